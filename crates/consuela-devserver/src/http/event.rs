//! `PUT /v1/event/fire/:name` and `GET /v1/event/list`: user events, as a
//! single agent delivers them to itself.

use std::time::Duration;

use axum::response::Response;
use consuela_wire::UserEvent;
use http::HeaderValue;
use tokio::time::Instant;

use super::query::{QueryOpts, check_dc};
use super::{Req, bad_request, goregex, json, server_error};
use crate::state::{Filters, Level, Target};

/// Serf's limit on a user event: its name plus its encoded body.
const USER_EVENT_SIZE_LIMIT: usize = 512;

/// Header bytes of a msgpack (old spec, as go-codec writes `[]byte` without
/// `WriteExt`) string or raw of `len` bytes.
fn raw_header(len: usize) -> usize {
    match len {
        0..=31 => 1,
        32..=65_535 => 3,
        _ => 5,
    }
}

/// The size serf checks: `consul:event:<name>` plus the msgpack of the
/// event (a map of its eight fields; `Version` and `LTime` are fixints).
fn encoded_size(e: &UserEvent) -> usize {
    let field = |key: &str, len: usize| raw_header(key.len()) + key.len() + raw_header(len) + len;
    let strings = [
        ("ID", e.id.len()),
        ("Name", e.name.len()),
        ("NodeFilter", e.node_filter.len()),
        ("ServiceFilter", e.service_filter.len()),
        ("TagFilter", e.tag_filter.len()),
    ];
    let payload = e
        .payload
        .as_ref()
        .map_or(raw_header(7) + 7 + 1, |p| field("Payload", p.len()));
    let ints = ["Version", "LTime"]
        .iter()
        .map(|k| raw_header(k.len()) + k.len() + 1)
        .sum::<usize>();
    let body = 1 + strings.iter().map(|(k, n)| field(k, *n)).sum::<usize>() + payload + ints;
    "consul:event:".len() + e.name.len() + body
}

/// Compiles a filter; `what` names it in the error (`node`, `service`, `tag`).
fn filter(pat: &str, what: &str) -> Result<Option<regex::Regex>, String> {
    if pat.is_empty() {
        return Ok(None);
    }
    goregex::compile(pat)
        .map(Some)
        .map_err(|e| format!("Invalid {what} filter: {e}"))
}

/// Consul's `validateUserEventParams`, then the compiled filters.
fn filters(e: &UserEvent) -> Result<Filters, String> {
    if !e.tag_filter.is_empty() && e.service_filter.is_empty() {
        return Err("Cannot provide tag filter without service filter".to_owned());
    }
    Ok(Filters {
        node: filter(&e.node_filter, "node")?,
        service: filter(&e.service_filter, "service")?,
        tag: filter(&e.tag_filter, "tag")?,
    })
}

/// `PUT /v1/event/fire/:name[?node=&service=&tag=&dc=]`, the body is the
/// payload.
pub(crate) fn fire(req: &Req) -> Response {
    if req.rest.is_empty() {
        return bad_request("Missing name");
    }
    let q = |k: &str| req.query.get(k).unwrap_or("").to_owned();
    let mut event = UserEvent {
        id: String::new(),
        name: req.rest.clone(),
        // Consul reads the body only when a length is declared.
        payload: (req.content_length().unwrap_or(0) > 0).then(|| req.body.to_vec()),
        node_filter: q("node"),
        service_filter: q("service"),
        tag_filter: q("tag"),
        version: 1,
        ltime: 0,
    };
    let filters = match filters(&event) {
        Ok(f) => f,
        Err(e) => return server_error(e),
    };
    event.id = uuid::Uuid::new_v4().to_string();
    if let Err(r) = check_dc(&req.query, &req.state.shared.config) {
        return r;
    }
    if encoded_size(&event) > USER_EVENT_SIZE_LIMIT {
        return server_error(format!(
            "user event exceeds limit of {USER_EVENT_SIZE_LIMIT} bytes"
        ));
    }
    req.state
        .log(Level::Debug, &format!("consul: User event: {}", event.name));
    let answer = req.state.shared.lock().fire_event(event, &filters);
    json(&answer)
}

/// `GET /v1/event/list[?name=&index=&wait=]`. The index is derived from the
/// last event's id, so it is not monotonic: a blocking list waits while the
/// index equals `?index`, for at most the wait (default and cap: the
/// maximum query time; no jitter).
pub(crate) async fn list(req: Req) -> Response {
    let opts = match QueryOpts::parse_wait(&req.query) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let name = req.query.get("name").filter(|n| !n.is_empty());
    let cfg = &req.state.shared.config;
    let wait = match opts.wait {
        Some(ns) if ns > 0 => Duration::from_nanos(ns.unsigned_abs()).min(cfg.max_query_time),
        _ => cfg.max_query_time,
    };
    let deadline = Instant::now() + wait;
    let (events, index) = loop {
        let notified = {
            let mut g = req.state.shared.lock();
            let (events, index) = g.events.list(name, &req.authz);
            if opts.index == 0 || index != opts.index || Instant::now() >= deadline {
                break (events, index);
            }
            g.watch.subscribe(&Target::Events).notified_owned()
        };
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = req.state.shared.shutdown.cancelled() => {}
        }
        if Instant::now() >= deadline || req.state.shared.shutdown.is_cancelled() {
            let g = req.state.shared.lock();
            break g.events.list(name, &req.authz);
        }
    };
    let mut r = json(&events);
    r.headers_mut()
        .insert("x-consul-index", HeaderValue::from(index));
    r
}

#[cfg(test)]
mod tests {
    use consuela_wire::UserEvent;

    use super::{USER_EVENT_SIZE_LIMIT, encoded_size, filters};

    fn event(name: &str, payload: Option<usize>) -> UserEvent {
        UserEvent {
            id: "2f1b1a4e-8c1d-4f6e-9a55-0c3b2d1e4f5a".to_owned(),
            name: name.to_owned(),
            payload: payload.map(|n| vec![b'x'; n]),
            version: 1,
            ..UserEvent::default()
        }
    }

    #[test]
    fn the_size_limit_counts_name_and_encoded_event() {
        let small = encoded_size(&event("deploy", Some(10)));
        assert!(small > 10 + "consul:event:deploy".len());
        assert!(small < USER_EVENT_SIZE_LIMIT);
        assert!(encoded_size(&event("deploy", Some(500))) > USER_EVENT_SIZE_LIMIT);
        assert!(encoded_size(&event("deploy", None)) < encoded_size(&event("deploy", Some(1))));
    }

    #[test]
    fn a_tag_filter_needs_a_service_filter() {
        let mut e = event("x", None);
        e.tag_filter = "a".to_owned();
        assert_eq!(
            filters(&e).unwrap_err(),
            "Cannot provide tag filter without service filter"
        );
        e.service_filter = "web(".to_owned();
        assert_eq!(
            filters(&e).unwrap_err(),
            "Invalid service filter: error parsing regexp: missing closing ): `web(`"
        );
    }
}
