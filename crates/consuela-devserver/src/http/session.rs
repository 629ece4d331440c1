//! `/v1/session/*`.

use axum::response::Response;
use consuela_wire::{SessionCreateResponse, SessionEntry, SessionId};
use http::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

use super::gojson::{Fields, decode_first, expect_object, field};
use super::query::{QueryOpts, check_dc, check_dc_read};
use super::{Read, Req, bad_request, blocking, json, server_error, text, with_meta, zero_meta};
use crate::policy::Kind;
use crate::state::{CreateSpec, Target, canonical_id_checked};

/// Consul's `FixupLockDelay`: a string is a Go duration, a number is
/// nanoseconds, and either below 1000 ns means seconds.
#[allow(clippy::cast_possible_truncation)]
fn fixup_lock_delay(v: &Value) -> Result<Option<i64>, String> {
    const THRESHOLD: i64 = 1000;
    let ns = match v {
        Value::String(s) => consuela_wire::parse_go_duration(s).map_err(|e| e.to_string())?,
        Value::Number(n) => n
            .as_i64()
            .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
        Value::Null => return Ok(None),
        other => {
            return Err(format!(
                "1 error(s) decoding:\n\n* 'LockDelay' expected type 'time.Duration', got unconvertible type '{}'",
                super::gojson::go_type(other)
            ));
        }
    };
    Ok(Some(if ns < THRESHOLD {
        ns.wrapping_mul(1_000_000_000)
    } else {
        ns
    }))
}

fn decode_create(req: &Req) -> Result<CreateSpec, String> {
    let cfg = &req.state.shared.config;
    let mut spec = CreateSpec {
        node: cfg.node_name.clone(),
        ..CreateSpec::default()
    };
    // Consul reads the body only when Content-Length says there is one, so a
    // chunked body is ignored. (In-process requests carry neither header.)
    let chunked = req.headers.get(http::header::TRANSFER_ENCODING).is_some();
    if req.body.is_empty()
        || req.content_length() == Some(0)
        || (chunked && req.content_length().is_none())
    {
        return Ok(spec);
    }
    let v = decode_first(&req.body)?;
    if let Value::Object(m) = &v
        && let Some((_, ld)) = field(m, "LockDelay")
    {
        spec.lock_delay = fixup_lock_delay(ld)?;
    }
    let Some(m) = expect_object(&v)? else {
        return Ok(spec);
    };
    let mut f = Fields::new(m, "");
    if let Some(s) = f.string("Name") {
        spec.name = s;
    }
    if let Some(s) = f.string("Node") {
        spec.node = s;
    }
    spec.checks = f.strings("Checks", "types.CheckID");
    spec.node_checks = f.strings("NodeChecks", "string");
    if let Some(v) = f.get("ServiceChecks") {
        match v {
            Value::Array(items) => {
                let ids = items
                    .iter()
                    .filter_map(|i| {
                        i.as_object()
                            .and_then(|o| field(o, "ID"))
                            .and_then(|(_, v)| v.as_str())
                    })
                    .map(str::to_owned)
                    .collect();
                spec.service_checks = Some(ids);
            }
            other => f.errors.push(format!(
                "'ServiceChecks': source data must be an array or slice, got {}",
                super::gojson::go_kind(other)
            )),
        }
    }
    spec.behavior = f.string("Behavior");
    spec.ttl = f.string("TTL");
    f.finish()?;
    Ok(spec)
}

pub(crate) async fn create(req: Req) -> Response {
    let spec = match decode_create(&req) {
        Ok(s) => s,
        Err(e) => return bad_request(format!("Request decode failed: {e}")),
    };
    let shared = &req.state.shared;
    if let Err(r) = check_dc(&req.query, &shared.config) {
        return r;
    }
    if !req.authz.write(Kind::Session, &spec.node) {
        return super::authz::denied();
    }
    let result = shared
        .lock()
        .session_create(&spec, Instant::now(), &shared.config);
    match result {
        Ok(id) => json(&SessionCreateResponse { id }),
        Err(e) => server_error(e),
    }
}

fn malformed(e: &str) -> String {
    format!("failed session lookup: index error: {e}")
}

/// The session id of a write on `/v1/session/<verb>/<id>`, checked in
/// Consul's order: missing (400), malformed (500), unknown `?dc` (500).
fn write_target(req: &Req) -> Result<SessionId, Response> {
    if req.rest.is_empty() {
        return Err(bad_request("Missing session"));
    }
    let id = canonical_id_checked(&req.rest).map_err(|e| server_error(malformed(&e.0)))?;
    check_dc(&req.query, &req.state.shared.config)?;
    if !req.authz.is_management() {
        let node = req
            .state
            .shared
            .lock()
            .sessions
            .by_id
            .get(&id)
            .map(|s| s.entry.node.as_str().to_owned())
            .unwrap_or_default();
        if !req.authz.write(Kind::Session, &node) {
            return Err(super::authz::denied());
        }
    }
    Ok(id)
}

pub(crate) async fn destroy(req: Req) -> Response {
    let id = match write_target(&req) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let shared = &req.state.shared;
    shared
        .lock()
        .invalidate_session(&id, Instant::now(), &shared.config);
    json(&true)
}

pub(crate) async fn renew(req: Req) -> Response {
    let id = match write_target(&req) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let shared = &req.state.shared;
    let renewed = shared
        .lock()
        .session_renew(&id, Instant::now(), &shared.config);
    match renewed {
        Some(entry) => json(&[entry]),
        None => text(
            StatusCode::NOT_FOUND,
            format!("Session id '{}' not found", req.rest),
        ),
    }
}

/// Which sessions a read returns.
type SessionFilter = Box<dyn Fn(&SessionEntry) -> bool + Send + Sync>;

/// A session read, in Consul's order: query options, the id or node the
/// path must carry (`missing`: the 400 text), the datacenter, then `filter`
/// (which may refuse the path with a response of its own).
async fn read_sessions<F>(
    req: &Req,
    missing: Option<&'static str>,
    filter: F,
    single: bool,
) -> Response
where
    F: FnOnce() -> Result<SessionFilter, Response>,
{
    let opts = match QueryOpts::parse(&req.query) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Some(msg) = missing
        && req.rest.is_empty()
    {
        return bad_request(msg);
    }
    if let Err(r) = check_dc_read(&req.query, &req.state.shared.config) {
        return r;
    }
    let filter = match filter() {
        Ok(f) => f,
        Err(r) => return r,
    };
    let read = blocking(&req.state, &opts, Target::Sessions, |g| {
        let list: Vec<SessionEntry> = g
            .sessions
            .by_id
            .values()
            .map(|s| &s.entry)
            .filter(|e| filter(e))
            .cloned()
            .collect();
        let found = !single || !list.is_empty();
        Read {
            value: list,
            index: g.sessions_index(),
            found,
        }
    })
    .await;
    with_meta(json(&read.value), read.index, None)
}

pub(crate) async fn info(req: Req) -> Response {
    let filter = || {
        // A malformed id fails in the state store, after the RPC began:
        // Consul still writes the (zero) query meta.
        let id = canonical_id_checked(&req.rest)
            .map_err(|e| zero_meta(server_error(malformed(&e.0))))?;
        let f: SessionFilter = Box::new(move |e| e.id == id);
        Ok(f)
    };
    read_sessions(&req, Some("Missing session"), filter, true).await
}

pub(crate) async fn node(req: Req) -> Response {
    let node = req.rest.clone();
    let filter = move || {
        let f: SessionFilter = Box::new(move |e| e.node.as_str() == node);
        Ok(f)
    };
    read_sessions(&req, Some("Missing node name"), filter, false).await
}

pub(crate) async fn list(req: Req) -> Response {
    let all = || {
        let f: SessionFilter = Box::new(|_| true);
        Ok(f)
    };
    read_sessions(&req, None, all, false).await
}
