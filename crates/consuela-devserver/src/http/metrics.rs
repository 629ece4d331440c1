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
    let (sessions, services) = {
        let g = s.lock();
        (g.sessions.by_id.len(), g.catalog.services.len())
    };
    let prefix = s.config.node_name.as_str();
    let gauge = |name: &str, value: usize| Gauge {
        name: name.replace("NODE", prefix),
        #[allow(clippy::cast_precision_loss)]
        value: value as f64,
        labels: serde_json::Map::new(),
    };
    json(&Summary {
        timestamp,
        gauges: vec![
            gauge("consul.NODE.runtime.num_goroutines", s.tracker.len() + 8),
            gauge("consul.consul.session.count", sessions),
            gauge("consul.consul.catalog.services", services),
        ],
        points: Vec::new(),
        counters: Vec::new(),
        samples: Vec::new(),
    })
}
