//! `/_dev/*`: test-only fault endpoints (documented in the crate docs).

use std::time::Duration;

use axum::response::Response;
use consuela_wire::SessionId;
use http::{Method, StatusCode};

use super::query::Query;
use super::{json, text};
use crate::state::ServerState;

pub(crate) async fn handle(
    state: &ServerState,
    method: &Method,
    rest: &str,
    q: &Query,
) -> Response {
    let not_allowed = || {
        text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} not allowed"),
        )
    };
    if let Some(id) = rest.strip_prefix("session/invalidate/") {
        if *method != Method::PUT {
            return not_allowed();
        }
        return json(&state.invalidate_session(&SessionId::from(id)));
    }
    match (rest, method) {
        ("state", &Method::GET) => json(&state.dump()),
        ("fault/no-leader", &Method::PUT) => match q.get("count").filter(|c| !c.is_empty()) {
            None => {
                state.set_no_leader(None);
                json(&true)
            }
            Some(c) => match c.parse::<u32>() {
                Ok(n) => {
                    state.set_no_leader(Some(n));
                    json(&true)
                }
                Err(_) => text(
                    StatusCode::BAD_REQUEST,
                    "count must be a non-negative integer",
                ),
            },
        },
        ("fault/no-leader", &Method::DELETE) => {
            state.clear_no_leader();
            json(&true)
        }
        ("fault/latency", &Method::PUT) => match q.get("ms").unwrap_or("0").parse::<u64>() {
            Ok(ms) => {
                state.set_latency(Duration::from_millis(ms));
                json(&true)
            }
            Err(_) => text(StatusCode::BAD_REQUEST, "ms must be a non-negative integer"),
        },
        ("fault/latency", &Method::DELETE) => {
            state.set_latency(Duration::ZERO);
            json(&true)
        }
        ("fault/election", &Method::PUT) => match duration(q) {
            Some(length) => {
                state.hold_election(length);
                json(&true)
            }
            None => bad_duration("15s"),
        },
        ("fault/agent-restart", &Method::PUT) => match duration(q) {
            Some(down) => {
                state.restart_agent(down);
                json(&true)
            }
            None => bad_duration("5s"),
        },
        ("ttl/pause", &Method::PUT) => {
            state.pause_ttl(true);
            json(&true)
        }
        ("ttl/resume", &Method::PUT) => {
            state.pause_ttl(false);
            json(&true)
        }
        ("fault/reset", &Method::PUT) => {
            state.reset_faults();
            json(&true)
        }
        (
            "state"
            | "fault/no-leader"
            | "fault/election"
            | "fault/agent-restart"
            | "fault/latency"
            | "ttl/pause"
            | "ttl/resume"
            | "fault/reset",
            _,
        ) => not_allowed(),
        _ => super::empty(StatusCode::NOT_FOUND),
    }
}

/// The `?duration=` of a fault: a non-negative Go duration.
fn duration(q: &Query) -> Option<Duration> {
    let ns = consuela_wire::parse_go_duration(q.get("duration")?).ok()?;
    u64::try_from(ns).ok().map(Duration::from_nanos)
}

fn bad_duration(example: &str) -> Response {
    text(
        StatusCode::BAD_REQUEST,
        format!("duration must be a Go duration such as {example}"),
    )
}
