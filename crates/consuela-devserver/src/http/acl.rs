//! `/v1/acl/*` and `/v1/agent/token/*`: the dev server has no ACL system
//! (its ACL mode is one management token), so these answer as a Consul
//! 1.0.8 agent without ACLs does: 401 `ACL support disabled`, after the
//! method check.

use axum::response::Response;
use http::StatusCode;

use super::{Req, text};

pub(crate) fn disabled(req: &Req) -> Response {
    let _ = req;
    text(StatusCode::UNAUTHORIZED, "ACL support disabled")
}
