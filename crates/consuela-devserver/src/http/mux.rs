//! Routing the way Go's `http.ServeMux` in Consul 1.0.8 does it: path
//! cleaning with 301s, exact and subtree patterns, trailing-slash redirects,
//! a catch-all that redirects `/` to `/ui/`, and per-route method lists
//! (405 with `Allow`).

use http::Method;

use crate::gostr::go_path_escape;

/// Every endpoint the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Kv,
    Txn,
    SessionCreate,
    SessionDestroy,
    SessionRenew,
    SessionInfo,
    SessionNode,
    SessionList,
    AgentSelf,
    AgentMembers,
    AgentServices,
    AgentChecks,
    AgentServiceRegister,
    AgentServiceDeregister,
    AgentServiceMaintenance,
    AgentCheckRegister,
    AgentCheckDeregister,
    AgentCheckPass,
    AgentCheckWarn,
    AgentCheckFail,
    AgentCheckUpdate,
    AgentMaintenance,
    AgentReload,
    AgentLeave,
    AgentForceLeave,
    AgentJoin,
    OperatorRaftPeer,
    AgentMonitor,
    AgentMetrics,
    HealthService,
    HealthChecks,
    HealthNode,
    HealthState,
    CatalogRegister,
    CatalogDeregister,
    CatalogService,
    CatalogServices,
    CatalogNodes,
    CatalogNode,
    CatalogDatacenters,
    CoordinateDatacenters,
    CoordinateNodes,
    CoordinateNode,
    CoordinateUpdate,
    EventFire,
    EventList,
    OperatorAutopilotConfiguration,
    OperatorAutopilotHealth,
    OperatorRaftConfiguration,
    StatusLeader,
    StatusPeers,
    AclBootstrap,
    AclCreate,
    AclUpdate,
    AclDestroy,
    AclInfo,
    AclClone,
    AclList,
    AclReplication,
    AgentToken,
    QueryGeneral,
    QuerySpecific,
}

const GET: &[Method] = &[Method::GET];
const PUT: &[Method] = &[Method::PUT];
const GET_PUT: &[Method] = &[Method::GET, Method::PUT];
const DELETE: &[Method] = &[Method::DELETE];
const KV: &[Method] = &[Method::GET, Method::PUT, Method::DELETE];
/// No method table: the handler checks methods itself.
pub(crate) const ANY: &[Method] = &[];

/// (pattern, route, methods), as Consul 1.0.8's `http_oss.go` registers
/// them. A pattern ending in `/` matches a subtree. Endpoints left out
/// (snapshots, the keyring, the UI's internal endpoints) answer 404 as
/// unknown paths do.
const ROUTES: &[(&str, Route, &[Method])] = &[
    ("/v1/acl/bootstrap", Route::AclBootstrap, PUT),
    ("/v1/acl/create", Route::AclCreate, PUT),
    ("/v1/acl/update", Route::AclUpdate, PUT),
    ("/v1/acl/destroy/", Route::AclDestroy, PUT),
    ("/v1/acl/info/", Route::AclInfo, GET),
    ("/v1/acl/clone/", Route::AclClone, PUT),
    ("/v1/acl/list", Route::AclList, GET),
    ("/v1/acl/replication", Route::AclReplication, GET),
    ("/v1/agent/token/", Route::AgentToken, PUT),
    ("/v1/agent/self", Route::AgentSelf, GET),
    ("/v1/agent/maintenance", Route::AgentMaintenance, PUT),
    ("/v1/agent/reload", Route::AgentReload, PUT),
    ("/v1/agent/monitor", Route::AgentMonitor, GET),
    ("/v1/agent/metrics", Route::AgentMetrics, GET),
    ("/v1/agent/services", Route::AgentServices, GET),
    ("/v1/agent/checks", Route::AgentChecks, GET),
    ("/v1/agent/members", Route::AgentMembers, GET),
    ("/v1/agent/leave", Route::AgentLeave, PUT),
    ("/v1/agent/force-leave/", Route::AgentForceLeave, PUT),
    ("/v1/agent/join/", Route::AgentJoin, PUT),
    ("/v1/agent/check/register", Route::AgentCheckRegister, PUT),
    (
        "/v1/agent/check/deregister/",
        Route::AgentCheckDeregister,
        PUT,
    ),
    ("/v1/agent/check/pass/", Route::AgentCheckPass, PUT),
    ("/v1/agent/check/warn/", Route::AgentCheckWarn, PUT),
    ("/v1/agent/check/fail/", Route::AgentCheckFail, PUT),
    ("/v1/agent/check/update/", Route::AgentCheckUpdate, PUT),
    (
        "/v1/agent/service/register",
        Route::AgentServiceRegister,
        PUT,
    ),
    (
        "/v1/agent/service/deregister/",
        Route::AgentServiceDeregister,
        PUT,
    ),
    (
        "/v1/agent/service/maintenance/",
        Route::AgentServiceMaintenance,
        PUT,
    ),
    ("/v1/catalog/register", Route::CatalogRegister, PUT),
    ("/v1/catalog/deregister", Route::CatalogDeregister, PUT),
    ("/v1/catalog/datacenters", Route::CatalogDatacenters, GET),
    ("/v1/catalog/nodes", Route::CatalogNodes, GET),
    ("/v1/catalog/services", Route::CatalogServices, GET),
    ("/v1/catalog/service/", Route::CatalogService, GET),
    ("/v1/catalog/node/", Route::CatalogNode, GET),
    (
        "/v1/coordinate/datacenters",
        Route::CoordinateDatacenters,
        GET,
    ),
    ("/v1/coordinate/nodes", Route::CoordinateNodes, GET),
    ("/v1/coordinate/node/", Route::CoordinateNode, GET),
    ("/v1/coordinate/update", Route::CoordinateUpdate, PUT),
    ("/v1/event/fire/", Route::EventFire, PUT),
    ("/v1/event/list", Route::EventList, GET),
    ("/v1/health/node/", Route::HealthNode, GET),
    ("/v1/health/checks/", Route::HealthChecks, GET),
    ("/v1/health/state/", Route::HealthState, GET),
    ("/v1/health/service/", Route::HealthService, GET),
    ("/v1/kv/", Route::Kv, KV),
    (
        "/v1/operator/autopilot/configuration",
        Route::OperatorAutopilotConfiguration,
        GET_PUT,
    ),
    (
        "/v1/operator/autopilot/health",
        Route::OperatorAutopilotHealth,
        GET,
    ),
    (
        "/v1/operator/raft/configuration",
        Route::OperatorRaftConfiguration,
        GET,
    ),
    ("/v1/operator/raft/peer", Route::OperatorRaftPeer, DELETE),
    ("/v1/query", Route::QueryGeneral, ANY),
    ("/v1/query/", Route::QuerySpecific, ANY),
    ("/v1/session/create", Route::SessionCreate, PUT),
    ("/v1/session/destroy/", Route::SessionDestroy, PUT),
    ("/v1/session/renew/", Route::SessionRenew, PUT),
    ("/v1/session/info/", Route::SessionInfo, GET),
    ("/v1/session/node/", Route::SessionNode, GET),
    ("/v1/session/list", Route::SessionList, GET),
    ("/v1/status/leader", Route::StatusLeader, GET),
    ("/v1/status/peers", Route::StatusPeers, GET),
    ("/v1/txn", Route::Txn, PUT),
];

/// What the mux decided.
#[derive(Debug)]
pub(crate) enum Dispatch {
    /// A route, its allowed methods, and the path after the pattern.
    Route(Route, &'static [Method], String),
    /// 301 to this location.
    Redirect(String),
    /// 404 with an empty body.
    NotFound,
}

/// Decodes `%XX` escapes of a raw path (Go's `URL.Path`). Invalid escapes and
/// non-UTF-8 results are `Err` (Go answers 400 for the former).
pub(crate) fn decode_path(raw: &str) -> Result<String, &'static str> {
    if !raw.contains('%') {
        return Ok(raw.to_owned());
    }
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .ok_or("invalid URL escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "invalid URL escape")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "invalid UTF-8 in URL path")
}

/// Go's `path.Clean`.
fn clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// ServeMux's `cleanPath`: `path.Clean` that keeps a trailing slash.
pub(crate) fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return "/".to_owned();
    }
    let p = if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("/{p}")
    };
    let mut np = clean(&p);
    if p.ends_with('/') && np != "/" {
        np.push('/');
    }
    np
}

fn with_query(path: &str, raw_query: &str) -> String {
    let mut loc = go_path_escape(path);
    if !raw_query.is_empty() {
        loc.push('?');
        loc.push_str(raw_query);
    }
    loc
}

/// Routes a decoded path.
pub(crate) fn dispatch(path: &str, raw_query: &str) -> Dispatch {
    let cleaned = clean_path(path);
    if cleaned != path {
        return Dispatch::Redirect(with_query(&cleaned, raw_query));
    }
    let mut best: Option<&(&str, Route, &[Method])> = None;
    for r in ROUTES {
        let hit = if r.0.ends_with('/') {
            path.starts_with(r.0)
        } else {
            path == r.0
        };
        if hit && best.is_none_or(|b| r.0.len() > b.0.len()) {
            best = Some(r);
        }
    }
    if let Some((pattern, route, methods)) = best {
        return Dispatch::Route(*route, methods, path[pattern.len()..].to_owned());
    }
    let slashed = format!("{path}/");
    if ROUTES.iter().any(|r| r.0 == slashed) {
        return Dispatch::Redirect(with_query(&slashed, raw_query));
    }
    if path == "/" {
        return Dispatch::Redirect("/ui/".to_owned());
    }
    Dispatch::NotFound
}

/// The `Allow` header for a method list.
pub(crate) fn allow_header(methods: &[Method]) -> String {
    let mut s = "OPTIONS".to_owned();
    for m in methods {
        s.push(',');
        s.push_str(m.as_str());
    }
    s
}

#[cfg(test)]
mod tests;
