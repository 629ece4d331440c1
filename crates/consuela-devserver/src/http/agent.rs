//! `/v1/agent/*`: the agent's identity, members, local services and checks,
//! maintenance mode, reload and leave. Registrations live in
//! `agent/register.rs`, `agent/self` and members in `agent/member.rs`,
//! the log stream in `agent/monitor.rs`.

mod member;
pub(crate) mod monitor;
pub(crate) mod register;

use std::collections::BTreeMap;

use axum::response::Response;
use http::StatusCode;
use tokio::time::Instant;

use super::{Req, bad_request, empty, json, text};
use crate::state::Catalog;

pub(crate) use member::{agent_self, members};

pub(crate) fn services(req: &Req) -> Response {
    let g = req.state.shared.lock();
    let map: BTreeMap<&String, consuela_wire::AgentService> = g
        .catalog
        .agent_services()
        .map(|s| {
            let mut w = Catalog::service_wire(s, false);
            // 1.0.7+: a service without meta shows `{}`.
            w.meta.get_or_insert_with(BTreeMap::new);
            (&s.id, w)
        })
        .collect();
    json(&map)
}

pub(crate) fn checks(req: &Req) -> Response {
    let g = req.state.shared.lock();
    let map: BTreeMap<&String, consuela_wire::AgentCheck> = g
        .catalog
        .agent_checks()
        .map(|c| (&c.id, g.catalog.check_wire(c, false)))
        .collect();
    json(&map)
}

/// `?enable=`: Go's `strconv.ParseBool`, with Consul's error texts.
fn enable_flag(req: &Req) -> Result<bool, Response> {
    let Some(raw) = req.query.get("enable").filter(|v| !v.is_empty()) else {
        return Err(bad_request("Missing value for enable"));
    };
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(bad_request(format!(
            "Invalid value for enable: {}",
            crate::gostr::go_quote(raw)
        ))),
    }
}

/// `PUT /v1/agent/maintenance?enable=&reason=`.
pub(crate) fn node_maintenance(req: &Req) -> Response {
    let enable = match enable_flag(req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let shared = &req.state.shared;
    let mut g = shared.lock();
    if enable {
        let reason = req.query.get("reason").unwrap_or("");
        g.enable_node_maintenance(reason, Instant::now(), &shared.config);
    } else {
        g.disable_node_maintenance(Instant::now(), &shared.config);
    }
    empty(StatusCode::OK)
}

/// `PUT /v1/agent/service/maintenance/:id?enable=&reason=`.
pub(crate) fn service_maintenance(req: &Req) -> Response {
    if req.rest.is_empty() {
        return bad_request("Missing service ID");
    }
    let enable = match enable_flag(req) {
        Ok(e) => e,
        Err(r) => return r,
    };
    if !super::authz::may_write_check(req, &req.rest) {
        return super::authz::denied();
    }
    let shared = &req.state.shared;
    let mut g = shared.lock();
    let now = Instant::now();
    let found = if enable {
        let reason = req.query.get("reason").unwrap_or("");
        g.enable_service_maintenance(&req.rest, reason, now, &shared.config)
    } else {
        g.disable_service_maintenance(&req.rest, now, &shared.config)
    };
    if found {
        empty(StatusCode::OK)
    } else {
        text(
            StatusCode::NOT_FOUND,
            format!(
                "No service registered with ID {}",
                crate::gostr::go_quote(&req.rest)
            ),
        )
    }
}

/// `PUT /v1/agent/reload`: nothing to reload; the configuration is fixed.
pub(crate) fn reload(req: &Req) -> Response {
    req.state.log(
        crate::state::Level::Info,
        "agent: Reloading configuration...",
    );
    empty(StatusCode::OK)
}

/// `PUT /v1/agent/leave`: answers, then the server shuts down as the agent
/// would (it stops accepting, ends blocking queries and `DevServer::stopped`
/// resolves).
pub(crate) fn leave(req: &Req) -> Response {
    req.state.leave();
    empty(StatusCode::OK)
}

/// `PUT /v1/agent/join/:addr[?wan=1]`: a single node joins only itself; any
/// other address cannot be reached.
pub(crate) fn join(req: &Req) -> Response {
    let ours = &req.state.shared.identity.address;
    let addr = req.rest.as_str();
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    if host == ours || host == "localhost" {
        return empty(StatusCode::OK);
    }
    let with_port = if addr.contains(':') {
        addr.to_owned()
    } else {
        format!("{addr}:{}", member::SERF_LAN_PORT)
    };
    super::server_error(format!(
        "1 error(s) occurred:\n\n* Failed to join {addr}: dial tcp {with_port}: connect: connection refused"
    ))
}

/// `PUT /v1/agent/force-leave/:node`: a single node has no failed members
/// to remove; Consul answers 200 for unknown nodes too.
pub(crate) fn force_leave(_req: &Req) -> Response {
    empty(StatusCode::OK)
}
