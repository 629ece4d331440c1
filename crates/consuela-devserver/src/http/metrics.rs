//! `GET /v1/agent/metrics`: go-metrics' in-memory sink summary, with the
//! gauges a dev agent reports about itself.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::Response;
use consuela_wire::CivilTime;
use serde::Serialize;

use super::{Req, json, text};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Gauge {
    name: String,
    value: f64,
    labels: serde_json::Map<String, serde_json::Value>,
}

/// `metrics.MetricsSummary`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Summary {
    timestamp: String,
    gauges: Vec<Gauge>,
    points: Vec<serde_json::Value>,
    counters: Vec<serde_json::Value>,
    samples: Vec<serde_json::Value>,
}

pub(crate) fn metrics(req: &Req) -> Response {
    if req.query.get("format") == Some("prometheus") {
        return text(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Prometheus is not enable since its retention time is not positive",
        );
    }
    let s = &req.state.shared;
    // The sink's interval start (10 s buckets), as Go's `time.Time.String`.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let t = CivilTime::from_unix(now - now % 10);
    let timestamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    let sessions = s.lock().sessions.by_id.len();
    let gauge = |name: &str, value: usize| Gauge {
        name: name.to_owned(),
        #[allow(clippy::cast_precision_loss)]
        value: value as f64,
        labels: serde_json::Map::new(),
    };
    // Names as an agent with `telemetry.disable_hostname` reports them; the
    // memory figures are this process's, not a Go heap's.
    let (alloc, sys) = memory();
    json(&Summary {
        timestamp,
        gauges: vec![
            gauge("consul.runtime.alloc_bytes", alloc),
            gauge("consul.runtime.heap_objects", 0),
            gauge("consul.runtime.num_goroutines", s.tracker.len() + 8),
            gauge("consul.runtime.sys_bytes", sys),
            gauge("consul.session_ttl.active", sessions),
        ],
        points: Vec::new(),
        counters: Vec::new(),
        samples: Vec::new(),
    })
}

/// Resident and virtual memory of this process (Linux `/proc/self/statm`),
/// in bytes; zeros elsewhere.
fn memory() -> (usize, usize) {
    const PAGE: usize = 4096;
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let mut fields = statm
        .split_whitespace()
        .map(|f| f.parse::<usize>().unwrap_or(0));
    let size = fields.next().unwrap_or(0);
    let resident = fields.next().unwrap_or(0);
    (resident * PAGE, size * PAGE)
}
