//! The HTTP surface: [`router`] turns a [`ServerState`] into an axum
//! `Router` whose single fallback handler reproduces Consul 1.0.8's mux,
//! headers and error texts.

mod acl;
mod agent;
mod authz;
mod catalog;
mod coordinate;
mod dev;
mod event;
mod gojson;
mod goregex;
mod health;
mod kv;
mod metrics;
mod mux;
mod operator;
mod prepared;
mod query;
mod session;
mod sniff;
mod status;
mod txn;

use std::future::Future;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, VARY};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Serialize;
use tokio::time::Instant;

use crate::state::{Inner, ServerState, Target};
use mux::{Dispatch, Route};
use query::{Query, QueryOpts};

/// The client's address, set by the accept loop (absent in router tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) std::net::SocketAddr);

/// The dev server's routes, testable with `tower::ServiceExt::oneshot`
/// without a socket.
pub fn router(state: ServerState) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// A parsed request as the endpoint handlers see it.
#[derive(Debug)]
pub(crate) struct Req {
    pub(crate) state: ServerState,
    pub(crate) method: Method,
    /// The decoded path after the route's pattern (a key, an id, a name).
    pub(crate) rest: String,
    pub(crate) query: Query,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The body was larger than the route's limit (only KV PUT gets here
    /// with that: it reports the overflow after checking its flags).
    pub(crate) body_too_large: bool,
    /// What the request's ACL token may do.
    pub(crate) authz: crate::policy::Authz,
}

impl Req {
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }
}

// ------------------------------------------------------------------ responses

/// JSON the way the Consul dev agent writes it: 4-space indent, trailing newline.
pub(crate) fn json_bytes<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    if v.serialize(&mut ser).is_err() {
        out.clear();
        out.extend_from_slice(b"null");
    }
    out.push(b'\n');
    out
}

pub(crate) fn json_status<T: Serialize + ?Sized>(status: StatusCode, v: &T) -> Response {
    let mut r = Response::new(Body::from(json_bytes(v)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn json<T: Serialize + ?Sized>(v: &T) -> Response {
    json_status(StatusCode::OK, v)
}

/// A plain-text error body (Go's sniffed `text/plain; charset=utf-8`).
pub(crate) fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut r = Response::new(Body::from(msg.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub(crate) fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

pub(crate) fn bad_request(msg: impl Into<String>) -> Response {
    text(StatusCode::BAD_REQUEST, msg)
}

pub(crate) fn server_error(msg: impl Into<String>) -> Response {
    text(StatusCode::INTERNAL_SERVER_ERROR, msg)
}

/// Adds the read meta headers: index, known-leader, last-contact, and for
/// catalog/health the effective consistency.
pub(crate) fn with_meta(
    mut r: Response,
    index: u64,
    consistency: Option<&'static str>,
) -> Response {
    let h = r.headers_mut();
    h.insert("x-consul-index", HeaderValue::from(index));
    h.insert("x-consul-knownleader", HeaderValue::from_static("true"));
    h.insert("x-consul-lastcontact", HeaderValue::from_static("0"));
    if let Some(c) = consistency {
        h.insert(
            "x-consul-effective-consistency",
            HeaderValue::from_static(c),
        );
    }
    r
}

/// The zero query meta that Consul's deferred `setMeta` writes when a
/// blocking read's RPC fails (an unknown `?dc`, a malformed session id).
pub(crate) fn zero_meta(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("x-consul-index", HeaderValue::from_static("0"));
    h.insert("x-consul-knownleader", HeaderValue::from_static("false"));
    h.insert("x-consul-lastcontact", HeaderValue::from_static("0"));
    r
}

/// A 301 as Go's `http.Redirect` writes it (HTML body only for GET/HEAD).
fn redirect(method: &Method, location: &str) -> Response {
    let mut r = if *method == Method::GET || *method == Method::HEAD {
        let body = format!(
            "<a href=\"{}\">Moved Permanently</a>.\n\n",
            crate::gostr::html_escape(location)
        );
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r
    } else {
        Response::new(Body::empty())
    };
    *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

// ------------------------------------------------------------------ blocking

/// What a blocking read evaluates to: its body, its index, and whether the
/// item it looked for exists (for the not-found rule).
pub(crate) struct Read<T> {
    pub(crate) value: T,
    pub(crate) index: u64,
    pub(crate) found: bool,
}

/// Runs `eval` as a Consul blocking query: at once when `?index` is absent or
/// 0; otherwise again on every change of `target` until the result's index
/// passes `?index` or the wait (with jitter) runs out. A result that was "not
/// found" on the first pass keeps blocking while it stays not found.
pub(crate) async fn blocking<T>(
    state: &ServerState,
    opts: &QueryOpts,
    target: Target,
    mut eval: impl FnMut(&Inner) -> Read<T>,
) -> Read<T> {
    if opts.index == 0 {
        return eval(&state.shared.lock());
    }
    let deadline = Instant::now() + opts.timeout(&state.shared.config);
    let mut first_found = None;
    let mut stop = false;
    loop {
        let notified = {
            let mut g = state.shared.lock();
            let r = eval(&g);
            // On the first pass any newer index answers at once, found or
            // not (the client's index predates a delete or an invalidation
            // it has not seen). Only once blocked does a "not found" result
            // keep waiting for the item itself, as newer Consul does.
            let first_pass = first_found.is_none();
            let was_found = *first_found.get_or_insert(r.found);
            let changed = r.index > opts.index && (first_pass || was_found || r.found);
            if changed || stop || Instant::now() >= deadline {
                return r;
            }
            g.watch.subscribe(&target).notified_owned()
        };
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep_until(deadline) => stop = true,
            () = state.shared.shutdown.cancelled() => stop = true,
        }
    }
}

// ------------------------------------------------------------------ dispatch

/// How much of an oversized body is read and thrown away before the 413.
const DRAIN_MAX: usize = 16 * 1024 * 1024;

/// Reads the body up to `limit` bytes; `None` if it is larger.
///
/// An oversized body is still drained (up to [`DRAIN_MAX`] more bytes)
/// before the caller answers 413. Otherwise the connection is closed with
/// unread data in the socket's receive buffer, the kernel answers with a
/// reset, and the client often loses the 413 to `connection reset` while it
/// is still sending. Go's server (and so Consul) discards the rest of an
/// unread body and closes gracefully, so its clients always see the 413.
async fn read_body(mut body: Body, limit: usize) -> Option<Bytes> {
    use http_body_util::BodyExt as _;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.ok()?.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            chunks.push(data);
        } else {
            chunks.clear();
            if seen > limit.saturating_add(DRAIN_MAX) {
                return None;
            }
        }
    }
    if seen > limit {
        return None;
    }
    Some(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => chunks.concat().into(),
    })
}

async fn handle(State(state): State<ServerState>, req: Request) -> Response {
    use crate::state::Level;
    // The request log line is built only when someone reads it: this runs
    // for every request.
    if !state.shared.log.wants(Level::Debug) {
        return dispatch(state, req).await;
    }
    let started = Instant::now();
    let peer = req.extensions().get::<Peer>().copied();
    let line = request_line(req.method(), req.uri());
    let resp = dispatch(state.clone(), req).await;
    let took = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
    let from = peer.map(|p| format!(" from={}", p.0)).unwrap_or_default();
    state.log(
        Level::Debug,
        &format!(
            "http: Request {line} ({}){from}",
            consuela_wire::format_go_duration(took)
        ),
    );
    resp
}

/// `METHOD /path?query` for the request log, with any ACL token hidden as
/// Consul hides it.
fn request_line(method: &Method, uri: &http::Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return format!("{method} {path}");
    };
    let query: Vec<&str> = query
        .split('&')
        .map(|kv| {
            if kv.split('=').next() == Some("token") {
                "token=<hidden>"
            } else {
                kv
            }
        })
        .collect();
    format!("{method} {path}?{}", query.join("&"))
}

async fn dispatch(state: ServerState, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let raw_path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    if let Some(rest) = raw_path.strip_prefix("/_dev/") {
        return dev::handle(&state, &parts.method, rest, &Query::parse(&raw_query)).await;
    }
    let latency = state.shared.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let path = match mux::decode_path(&raw_path) {
        Ok(p) => p,
        Err(msg) => return bad_request(msg),
    };
    if let Some(file) = path.strip_prefix("/ui/") {
        return ui(file);
    }
    let (route, methods, rest) = match mux::dispatch(&path, &raw_query) {
        Dispatch::Route(r, m, rest) => (r, m, rest),
        Dispatch::Redirect(loc) => return redirect(&parts.method, &loc),
        Dispatch::NotFound => return empty(StatusCode::NOT_FOUND),
    };
    let mut r = serve(state, parts, body, route, methods, rest, raw_query).await;
    // Every registered endpoint sits behind Consul's gzip handler, which
    // adds this header whether or not it compresses.
    r.headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    r
}

/// `/ui/`: a dev agent serves the web UI there (`/` redirects to it, and
/// HTTP checks on the agent's own address follow that redirect). The UI
/// itself is not included: its index is a small page saying so, and other
/// files are not found, as Go's file server answers.
fn ui(file: &str) -> Response {
    if matches!(file, "" | "index.html") {
        let mut r = Response::new(Body::from(UI_PAGE));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        return r;
    }
    let mut r = text(StatusCode::NOT_FOUND, "404 page not found\n");
    r.headers_mut().insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

const UI_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Consul by HashiCorp</title></head>\n<body><p>consuela dev: a Consul-compatible development server. The web UI is not included.</p></body></html>\n";

/// Whether a follower must forward this request to the leader (so answers
/// `No cluster leader` during an election): everything but the agent's own
/// endpoints, user events (gossip), the status endpoints and `?stale` reads.
fn needs_leader(route: Route, query: &Query) -> bool {
    use Route::*;
    let local = matches!(
        route,
        AgentSelf
            | AgentMembers
            | AgentServices
            | AgentChecks
            | AgentServiceRegister
            | AgentServiceDeregister
            | AgentServiceMaintenance
            | AgentCheckRegister
            | AgentCheckDeregister
            | AgentCheckPass
            | AgentCheckWarn
            | AgentCheckFail
            | AgentCheckUpdate
            | AgentMaintenance
            | AgentReload
            | AgentLeave
            | AgentForceLeave
            | AgentJoin
            | AgentMonitor
            | AgentMetrics
            | AgentToken
            | EventFire
            | EventList
            | StatusLeader
            | StatusPeers
    );
    !local && !query.has("stale") && !query.has("max_stale")
}

/// A routed request: method checks, faults, ACL, body limits, the handler.
async fn serve(
    state: ServerState,
    parts: http::request::Parts,
    body: Body,
    route: Route,
    methods: &'static [Method],
    rest: String,
    raw_query: String,
) -> Response {
    let allow = mux::allow_header(methods);
    let own_methods = methods.is_empty();
    if parts.method == Method::OPTIONS && !own_methods {
        let mut r = empty(StatusCode::OK);
        r.headers_mut().insert(
            ALLOW,
            HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static("OPTIONS")),
        );
        return r;
    }
    if !own_methods && !methods.contains(&parts.method) {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {} not allowed", parts.method),
        );
        r.headers_mut().insert(
            ALLOW,
            HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static("OPTIONS")),
        );
        return r;
    }
    let query = Query::parse(&raw_query);
    if state.shared.faults.take_no_leader()
        || (needs_leader(route, &query) && state.shared.faults.electing())
    {
        return server_error("No cluster leader");
    }
    let authz = match authz::resolve(&state, route, &parts.headers, &query) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(r) = authz::check_route(route, &parts.method, &rest, &query, &authz) {
        return r;
    }
    let cfg = &state.shared.config;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = match route {
        Route::Kv => cfg.max_value_size,
        Route::Txn => cfg.txn_max_req_len,
        _ => cfg.max_body_size,
    };
    let too_large = |n: Option<u64>| match route {
        Route::Kv => text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Value exceeds {} byte limit", cfg.max_value_size),
        ),
        Route::Txn => text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Request body({} bytes) too large, max size: {} bytes. See https://www.consul.io/docs/agent/options.html#txn_max_req_len",
                n.map_or_else(|| format!(">{limit}"), |n| n.to_string()),
                limit
            ),
        ),
        _ => text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body too large, max size: {limit} bytes"),
        ),
    };
    // KV reads and deletes ignore bodies; only writes are size-checked here
    // (the KV PUT handler checks its flags first, as Consul does).
    let mut body_too_large = false;
    let body = if parts.method == Method::PUT || parts.method == Method::POST {
        // Read (or drain) the body even when its declared length is already
        // over the limit: see `read_body`.
        match read_body(body, limit).await {
            Some(b) => b,
            None if route == Route::Kv => {
                body_too_large = true;
                Bytes::new()
            }
            None => return too_large(declared),
        }
    } else {
        Bytes::new()
    };
    let req = Req {
        state: state.clone(),
        method: parts.method,
        rest,
        query,
        headers: parts.headers,
        body,
        body_too_large,
        authz,
    };
    route_to(route, req).await
}

/// A synchronous handler as a boxed future.
fn ready(
    req: Req,
    f: fn(&Req) -> Response,
) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>> {
    Box::pin(async move { f(&req) })
}

fn route_to(route: Route, req: Req) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>> {
    use consuela_wire::HealthStatus;
    match route {
        Route::Kv => Box::pin(kv::handle(req)),
        Route::Txn => Box::pin(txn::handle(req)),
        Route::SessionCreate => Box::pin(session::create(req)),
        Route::SessionDestroy => Box::pin(session::destroy(req)),
        Route::SessionRenew => Box::pin(session::renew(req)),
        Route::SessionInfo => Box::pin(session::info(req)),
        Route::SessionNode => Box::pin(session::node(req)),
        Route::SessionList => Box::pin(session::list(req)),
        Route::AgentSelf => ready(req, agent::agent_self),
        Route::AgentMembers => ready(req, agent::members),
        Route::AgentServices => ready(req, agent::services),
        Route::AgentChecks => ready(req, agent::checks),
        Route::AgentServiceRegister => ready(req, agent::register::register_service),
        Route::AgentServiceDeregister => ready(req, agent::register::deregister_service),
        Route::AgentServiceMaintenance => ready(req, agent::service_maintenance),
        Route::AgentCheckRegister => ready(req, agent::register::register_check),
        Route::AgentCheckDeregister => ready(req, agent::register::deregister_check),
        Route::AgentCheckPass => {
            Box::pin(async move { agent::register::ttl_update(&req, Some(HealthStatus::Passing)) })
        }
        Route::AgentCheckWarn => {
            Box::pin(async move { agent::register::ttl_update(&req, Some(HealthStatus::Warning)) })
        }
        Route::AgentCheckFail => {
            Box::pin(async move { agent::register::ttl_update(&req, Some(HealthStatus::Critical)) })
        }
        Route::AgentCheckUpdate => Box::pin(async move { agent::register::ttl_update(&req, None) }),
        Route::AgentMaintenance => ready(req, agent::node_maintenance),
        Route::AgentReload => ready(req, agent::reload),
        Route::AgentLeave => ready(req, agent::leave),
        Route::AgentForceLeave => ready(req, agent::force_leave),
        Route::AgentJoin => ready(req, agent::join),
        Route::OperatorRaftPeer => ready(req, operator::raft_remove_peer),
        Route::AgentMonitor => ready(req, agent::monitor::monitor),
        Route::AgentMetrics => ready(req, metrics::metrics),
        Route::HealthService => Box::pin(health::health_service(req)),
        Route::HealthChecks => Box::pin(health::health_checks(req)),
        Route::HealthNode => Box::pin(health::health_node(req)),
        Route::HealthState => Box::pin(health::health_state(req)),
        Route::CatalogRegister => ready(req, catalog::register::register),
        Route::CatalogDeregister => ready(req, catalog::register::deregister),
        Route::CatalogService => Box::pin(catalog::catalog_service(req)),
        Route::CatalogServices => Box::pin(catalog::catalog_services(req)),
        Route::CatalogNodes => Box::pin(catalog::catalog_nodes(req)),
        Route::CatalogNode => Box::pin(catalog::catalog_node(req)),
        Route::CatalogDatacenters => ready(req, catalog::datacenters),
        Route::CoordinateDatacenters => ready(req, coordinate::datacenters),
        Route::CoordinateNodes => Box::pin(coordinate::nodes(req)),
        Route::CoordinateNode => Box::pin(coordinate::node(req)),
        Route::CoordinateUpdate => ready(req, coordinate::update),
        Route::EventFire => ready(req, event::fire),
        Route::EventList => Box::pin(event::list(req)),
        Route::OperatorAutopilotConfiguration => ready(req, operator::autopilot_configuration),
        Route::OperatorAutopilotHealth => ready(req, operator::autopilot_health),
        Route::OperatorRaftConfiguration => ready(req, operator::raft_configuration),
        Route::StatusLeader => ready(req, status::leader),
        Route::StatusPeers => ready(req, status::peers),
        Route::AclBootstrap => ready(req, acl::bootstrap),
        Route::AclCreate => ready(req, acl::create),
        Route::AclUpdate => ready(req, acl::update),
        Route::AclDestroy => ready(req, acl::destroy),
        Route::AclInfo => Box::pin(acl::info(req)),
        Route::AclClone => ready(req, acl::clone),
        Route::AclList => Box::pin(acl::list(req)),
        Route::AclReplication => ready(req, acl::replication),
        Route::AgentToken => ready(req, acl::agent_token),
        Route::QueryGeneral => Box::pin(prepared::general(req)),
        Route::QuerySpecific => Box::pin(prepared::specific(req)),
    }
}

#[cfg(test)]
mod tests;
