//! `/v1/acl/*` and `/v1/agent/token/`: Consul 1.0.8's legacy ACL API. With
//! ACLs off (no master token) every one answers 401 `ACL support disabled`,
//! after the method check, as an agent without ACLs does.

use axum::response::Response;
use http::StatusCode;
use serde::Serialize;

use super::gojson::{Fields, decode_first, expect_object};
use super::query::{QueryOpts, check_dc_read};
use super::{Read, Req, bad_request, blocking, empty, json, server_error, text, with_meta};
use crate::state::{Acl, AclError, Target};

fn disabled() -> Response {
    text(StatusCode::UNAUTHORIZED, "ACL support disabled")
}

fn acls_on(req: &Req) -> Result<(), Response> {
    if req.state.shared.config.acl_token.is_some() {
        Ok(())
    } else {
        Err(disabled())
    }
}

fn failed(e: AclError) -> Response {
    match e {
        AclError::Denied(m) => text(StatusCode::FORBIDDEN, m),
        AclError::Failed(m) => server_error(m),
    }
}

#[derive(Serialize)]
struct Id {
    #[serde(rename = "ID")]
    id: String,
}

/// `PUT /v1/acl/bootstrap`: the master token already exists.
pub(crate) fn bootstrap(req: &Req) -> Response {
    if let Err(r) = acls_on(req) {
        return r;
    }
    text(
        StatusCode::FORBIDDEN,
        "Permission denied: ACL bootstrap no longer allowed",
    )
}

/// `aclSet`: the body (when it has a length) over a client token.
fn set(req: &Req, update: bool) -> Response {
    if let Err(r) = acls_on(req) {
        return r;
    }
    let mut acl = Acl {
        id: String::new(),
        name: String::new(),
        kind: "client".to_owned(),
        rules: String::new(),
        create_index: 0,
        modify_index: 0,
        policy: crate::policy::Policy::default(),
    };
    if req.content_length().unwrap_or(0) > 0 {
        let decoded = decode_first(&req.body).and_then(|v| {
            let m = expect_object(&v)?.cloned().unwrap_or_default();
            let mut f = Fields::new(&m, "");
            let id = f.string("ID");
            let name = f.string("Name");
            let kind = f.string("Type");
            let rules = f.string("Rules");
            f.finish()?;
            Ok((id, name, kind, rules))
        });
        match decoded {
            Ok((id, name, kind, rules)) => {
                acl.id = id.unwrap_or_default();
                acl.name = name.unwrap_or_default();
                acl.kind = kind.unwrap_or(acl.kind);
                acl.rules = rules.unwrap_or_default();
            }
            Err(e) => return bad_request(format!("Request decode failed: {e}")),
        }
    }
    if update && acl.id.is_empty() {
        return bad_request("ACL ID must be set");
    }
    match req.state.shared.lock().set_acl(acl) {
        Ok(id) => json(&Id { id }),
        Err(e) => failed(e),
    }
}

pub(crate) fn create(req: &Req) -> Response {
    set(req, false)
}

pub(crate) fn update(req: &Req) -> Response {
    set(req, true)
}

pub(crate) fn destroy(req: &Req) -> Response {
    if let Err(r) = acls_on(req) {
        return r;
    }
    if req.rest.is_empty() {
        return bad_request("Missing ACL");
    }
    match req.state.shared.lock().delete_acl(&req.rest) {
        Ok(()) => json(&true),
        Err(e) => failed(e),
    }
}

/// A blocking read of the ACL table.
async fn read_acls(req: &Req, eval: impl Fn(&crate::state::Inner) -> Vec<Acl>) -> Response {
    let opts = match QueryOpts::parse(&req.query) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = check_dc_read(&req.query, &req.state.shared.config) {
        return r;
    }
    let read = blocking(&req.state, &opts, Target::Acls, |g| Read {
        value: eval(g),
        index: g.acls.index,
        found: true,
    })
    .await;
    with_meta(json(&read.value), read.index, None)
}

/// `GET /v1/acl/info/:id`: `[acl]`, or `[]` for an unknown id.
pub(crate) async fn info(req: Req) -> Response {
    if let Err(r) = acls_on(&req) {
        return r;
    }
    if req.rest.is_empty() {
        return bad_request("Missing ACL");
    }
    let id = req.rest.clone();
    read_acls(&req, |g| {
        g.acls.by_id.get(&id).cloned().into_iter().collect()
    })
    .await
}

pub(crate) async fn list(req: Req) -> Response {
    if let Err(r) = acls_on(&req) {
        return r;
    }
    read_acls(&req, |g| g.acls.by_id.values().cloned().collect()).await
}

/// `PUT /v1/acl/clone/:id`: a new token with the same name, type and rules.
pub(crate) fn clone(req: &Req) -> Response {
    if let Err(r) = acls_on(req) {
        return r;
    }
    if req.rest.is_empty() {
        return bad_request("Missing ACL");
    }
    let mut g = req.state.shared.lock();
    let Some(mut acl) = g.acls.by_id.get(&req.rest).cloned() else {
        return text(StatusCode::NOT_FOUND, "Target ACL not found");
    };
    acl.id = String::new();
    match g.set_acl(acl) {
        Ok(id) => json(&Id { id }),
        Err(e) => failed(e),
    }
}

/// `structs.ACLReplicationStatus`: replication is off on a single datacenter.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Replication {
    enabled: bool,
    running: bool,
    source_datacenter: String,
    replicated_index: u64,
    last_success: &'static str,
    last_error: &'static str,
}

pub(crate) fn replication(req: &Req) -> Response {
    if let Err(r) = acls_on(req) {
        return r;
    }
    json(&Replication {
        enabled: false,
        running: false,
        source_datacenter: req.state.shared.config.datacenter.clone(),
        replicated_index: 0,
        last_success: "0001-01-01T00:00:00Z",
        last_error: "0001-01-01T00:00:00Z",
    })
}

/// `PUT /v1/agent/token/:kind`: the agent's tokens are not used by the dev
/// server; known kinds are accepted, others are unknown.
pub(crate) fn agent_token(req: &Req) -> Response {
    if let Err(r) = acls_on(req) {
        return r;
    }
    match req.rest.as_str() {
        "acl_token" | "acl_agent_token" | "acl_agent_master_token" | "acl_replication_token" => {
            empty(StatusCode::OK)
        }
        other => text(
            StatusCode::NOT_FOUND,
            format!("Token {} is unknown", crate::gostr::go_quote(other)),
        ),
    }
}
