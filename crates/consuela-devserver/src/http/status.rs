//! `/v1/status/*`: the Raft leader and peers (this server).

use axum::response::Response;

use super::{Req, json};

pub(crate) fn leader(req: &Req) -> Response {
    if req.state.shared.faults.electing() {
        return json(&"");
    }
    json(&req.state.shared.identity.server_addr())
}

pub(crate) fn peers(req: &Req) -> Response {
    json(&[req.state.shared.identity.server_addr()])
}
