//! Who a request is: its ACL token resolved to what it may do, and the
//! checks that need nothing but the route (the handlers filter and check
//! what depends on their data).

use axum::response::Response;
use http::header::AUTHORIZATION;
use http::{HeaderMap, Method, StatusCode};

use super::mux::Route;
use super::query::Query;
use super::text;
use crate::policy::{Authz, Kind};
use crate::state::{ANONYMOUS, ServerState};

/// 403 `Permission denied` (`acl.ErrPermissionDenied`).
pub(crate) fn denied() -> Response {
    text(StatusCode::FORBIDDEN, "Permission denied")
}

/// The request's token (`?token=`, `X-Consul-Token`, `Authorization:
/// Bearer`), never logged.
fn token_of(headers: &HeaderMap, q: &Query) -> Option<String> {
    if let Some(t) = q.get("token").filter(|t| !t.is_empty()) {
        return Some(t.to_owned());
    }
    if let Some(t) = headers
        .get("x-consul-token")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
    {
        return Some(t.to_owned());
    }
    let auth = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())?;
    let mut words = auth.split_whitespace();
    let scheme = words.next()?;
    if scheme.eq_ignore_ascii_case("bearer") {
        words.next().map(str::to_owned)
    } else {
        None
    }
}

/// Resolves the token: everything with ACLs off (and on `/v1/status/*`,
/// which checks no token); the anonymous token when none is given; 403
/// `ACL not found` for an unknown one.
pub(crate) fn resolve(
    state: &ServerState,
    route: Route,
    headers: &HeaderMap,
    q: &Query,
) -> Result<Authz, Response> {
    let cfg = &state.shared.config;
    if cfg.acl_token.is_none() || matches!(route, Route::StatusLeader | Route::StatusPeers) {
        return Ok(Authz::All);
    }
    let token = token_of(headers, q).unwrap_or_else(|| ANONYMOUS.to_owned());
    let policy = match state.shared.lock().acls.by_id.get(&token) {
        None => return Err(text(StatusCode::FORBIDDEN, "ACL not found")),
        Some(acl) if acl.kind == "management" => return Ok(Authz::All),
        Some(acl) => acl.policy.clone(),
    };
    Ok(Authz::Rules {
        policy,
        default_allow: cfg.acl_default_allow,
        enforce_v8: cfg.acl_enforce_version_8,
    })
}

/// The checks a route needs before its handler runs: KV keys (lists are
/// filtered by the handler), events, the agent, operator and ACL writes.
pub(crate) fn check_route(
    route: Route,
    method: &Method,
    rest: &str,
    q: &Query,
    authz: &Authz,
) -> Result<(), Response> {
    if authz.is_management() {
        return Ok(());
    }
    let allowed = match route {
        Route::Kv if *method == Method::GET => {
            q.has("recurse") || q.has("keys") || authz.read(Kind::Key, rest)
        }
        Route::Kv => authz.write(Kind::Key, rest),
        Route::EventFire => authz.write(Kind::Event, rest),
        Route::AgentSelf | Route::AgentMonitor | Route::AgentMetrics => authz.read(Kind::Agent, ""),
        Route::AgentReload | Route::AgentLeave | Route::AgentForceLeave | Route::AgentJoin => {
            authz.write(Kind::Agent, "")
        }
        Route::AgentMaintenance => authz.write(Kind::Node, ""),
        Route::OperatorAutopilotConfiguration => authz.operator(*method == Method::PUT),
        Route::OperatorAutopilotHealth | Route::OperatorRaftConfiguration => authz.operator(false),
        Route::AclCreate
        | Route::AclUpdate
        | Route::AclDestroy
        | Route::AclClone
        | Route::AclList => false,
        Route::AgentToken => authz.write(Kind::Agent, ""),
        _ => true,
    };
    if allowed { Ok(()) } else { Err(denied()) }
}

/// May the request write the agent's check `check_id` (the service's write
/// for a service check, the node's for a node check)? Unknown checks are
/// the handlers' business.
pub(crate) fn may_write_check(req: &super::Req, service_id: &str) -> bool {
    if req.authz.is_management() {
        return true;
    }
    let g = req.state.shared.lock();
    if service_id.is_empty() {
        return req.authz.write(Kind::Node, &g.catalog.agent_node);
    }
    let name = g
        .catalog
        .agent_service(service_id)
        .map_or_else(String::new, |s| s.name.clone());
    req.authz.write(Kind::Service, &name)
}

/// The service id of the agent's check `check_id` (empty for a node check
/// or an unknown one).
pub(crate) fn check_service(req: &super::Req, check_id: &str) -> String {
    let g = req.state.shared.lock();
    g.catalog
        .agent_checks()
        .find(|c| c.id == check_id)
        .map_or_else(String::new, |c| c.service_id.clone())
}
