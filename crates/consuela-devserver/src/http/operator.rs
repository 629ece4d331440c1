//! `/v1/operator/*`: the autopilot configuration and health, and the Raft
//! configuration of this single server.

use std::time::Duration;

use axum::response::Response;
use consuela_wire::{CivilTime, format_go_duration};
use http::StatusCode;
use serde::Serialize;
use serde_json::{Map, Value};

use super::gojson::{Fields, decode_first, expect_object};
use super::query::{QueryOpts, check_dc};
use super::{Req, json, json_status, text};
use crate::state::Autopilot;

/// `api.AutopilotConfiguration`, in its field order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AutopilotBody<'a> {
    cleanup_dead_servers: bool,
    last_contact_threshold: String,
    max_trailing_logs: u64,
    server_stabilization_time: String,
    redundancy_zone_tag: &'a str,
    disable_upgrade_migration: bool,
    upgrade_version_tag: &'a str,
    create_index: u64,
    modify_index: u64,
}

fn go_duration(d: Duration) -> String {
    format_go_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Reads take `?dc`, `?stale`, `?consistent` (no blocking, no meta headers).
fn read_opts(req: &Req) -> Result<(), Response> {
    QueryOpts::parse(&req.query)?;
    check_dc(&req.query, &req.state.shared.config)
}

/// `GET|PUT /v1/operator/autopilot/configuration`.
pub(crate) fn autopilot_configuration(req: &Req) -> Response {
    if req.method == http::Method::PUT {
        return set_autopilot(req);
    }
    if let Err(r) = read_opts(req) {
        return r;
    }
    let g = req.state.shared.lock();
    let a = &g.operator.autopilot;
    json(&AutopilotBody {
        cleanup_dead_servers: a.cleanup_dead_servers,
        last_contact_threshold: go_duration(a.last_contact_threshold),
        max_trailing_logs: a.max_trailing_logs,
        server_stabilization_time: go_duration(a.server_stabilization_time),
        redundancy_zone_tag: &a.redundancy_zone_tag,
        disable_upgrade_migration: a.disable_upgrade_migration,
        upgrade_version_tag: &a.upgrade_version_tag,
        create_index: a.create_index,
        modify_index: a.modify_index,
    })
}

/// The PUT body: the whole configuration (omitted fields become zero).
/// Durations may be Go duration strings or nanoseconds.
fn decode_autopilot(body: &[u8]) -> Result<Autopilot, String> {
    let v = decode_first(body)?;
    let m: Map<String, Value> = expect_object(&v)?.cloned().unwrap_or_default();
    let mut fixed = Map::new();
    for (k, v) in m {
        let lower = k.to_ascii_lowercase();
        let v = match v {
            Value::String(s)
                if lower == "lastcontactthreshold" || lower == "serverstabilizationtime" =>
            {
                Value::from(consuela_wire::parse_go_duration(&s).map_err(|e| e.to_string())?)
            }
            v => v,
        };
        fixed.insert(k, v);
    }
    let mut f = Fields::new(&fixed, "");
    let nanos =
        |n: Option<i64>| Duration::from_nanos(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0));
    let config = Autopilot {
        cleanup_dead_servers: f.bool("CleanupDeadServers").unwrap_or(false),
        last_contact_threshold: nanos(f.int("LastContactThreshold", "api.ReadableDuration")),
        max_trailing_logs: f
            .int("MaxTrailingLogs", "uint64")
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        server_stabilization_time: nanos(f.int("ServerStabilizationTime", "api.ReadableDuration")),
        redundancy_zone_tag: f.string("RedundancyZoneTag").unwrap_or_default(),
        disable_upgrade_migration: f.bool("DisableUpgradeMigration").unwrap_or(false),
        upgrade_version_tag: f.string("UpgradeVersionTag").unwrap_or_default(),
        create_index: 0,
        modify_index: 0,
    };
    f.finish()?;
    Ok(config)
}

fn set_autopilot(req: &Req) -> Response {
    let config = match decode_autopilot(&req.body) {
        Ok(c) => c,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("Error parsing autopilot config: {e}"),
            );
        }
    };
    let cas = match req
        .query
        .has("cas")
        .then(|| req.query.get("cas").unwrap_or(""))
    {
        None => None,
        Some(raw) => match crate::gostr::parse_uint(raw) {
            Ok(n) => Some(n),
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("Error parsing cas value: {e}"),
                );
            }
        },
    };
    if let Err(r) = check_dc(&req.query, &req.state.shared.config) {
        return r;
    }
    let applied = req.state.shared.lock().set_autopilot(config, cas);
    // Without `?cas` Consul answers `true` whatever happened.
    json(&(cas.is_none() || applied))
}

/// `GET /v1/operator/autopilot/health`: one healthy voter, the leader.
pub(crate) fn autopilot_health(req: &Req) -> Response {
    if let Err(r) = read_opts(req) {
        return r;
    }
    let s = &req.state.shared;
    let last_index = s.lock().index.last();
    let body = serde_json::json!({
        "Healthy": true,
        "FailureTolerance": 0,
        "Servers": [{
            "ID": s.identity.node_id,
            "Name": s.config.node_name,
            "Address": s.identity.server_addr(),
            "SerfStatus": "alive",
            "Version": "1.0.8",
            "Leader": true,
            "LastContact": "0s",
            "LastTerm": 2,
            "LastIndex": last_index,
            "Healthy": true,
            "Voter": true,
            "StableSince": CivilTime::from_system(s.identity.started).to_string(),
        }],
    });
    json_status(StatusCode::OK, &body)
}

/// `GET /v1/operator/raft/configuration`.
pub(crate) fn raft_configuration(req: &Req) -> Response {
    if let Err(r) = read_opts(req) {
        return r;
    }
    let s = &req.state.shared;
    let body = serde_json::json!({
        "Servers": [{
            "ID": s.identity.node_id,
            "Node": s.config.node_name,
            "Address": s.identity.server_addr(),
            "Leader": true,
            "ProtocolVersion": "3",
            "Voter": true,
        }],
        "Index": 1,
    });
    json(&body)
}

/// `DELETE /v1/operator/raft/peer?id=|?address=`: the only peer is this
/// server, which a single-node cluster cannot lose.
pub(crate) fn raft_remove_peer(req: &Req) -> Response {
    let id = req.query.get("id").filter(|v| !v.is_empty());
    let address = req.query.get("address").filter(|v| !v.is_empty());
    let (what, value) = match (id, address) {
        (None, None) => {
            return text(
                StatusCode::BAD_REQUEST,
                "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
            );
        }
        (Some(_), Some(_)) => {
            return text(
                StatusCode::BAD_REQUEST,
                "Must specify only one of ?id or ?address",
            );
        }
        (Some(id), None) => ("id", id),
        (None, Some(addr)) => ("address", addr),
    };
    if let Err(r) = check_dc(&req.query, &req.state.shared.config) {
        return r;
    }
    let s = &req.state.shared;
    let ours = if what == "id" {
        value == s.identity.node_id
    } else {
        value == s.identity.server_addr()
    };
    if ours {
        return super::server_error(
            "the dev server is its cluster's only Raft peer and cannot remove itself",
        );
    }
    super::server_error(format!(
        "{what} {} was not found in the Raft configuration",
        crate::gostr::go_quote(value)
    ))
}
