//! `GET /v1/agent/self` and `GET /v1/agent/members`: the agent's identity,
//! gossip members and runtime statistics, consistent with the rest of the
//! server (leader address, counts, indexes).

use std::collections::BTreeMap;

use axum::response::Response;
use consuela_wire::{AgentConfig, AgentMember, AgentSelf};
use http::StatusCode;
use serde_json::{Value, json};

use super::super::{Req, json, server_error, text};
use crate::state::CheckKind;

/// LAN and WAN gossip ports of a Consul agent.
pub(crate) const SERF_LAN_PORT: u16 = 8301;
const SERF_WAN_PORT: u16 = 8302;

/// The agent as a member of the LAN (`wan == false`) or WAN pool.
fn member(req: &Req, wan: bool) -> AgentMember {
    let s = &req.state.shared;
    let dc = s.config.datacenter.as_str();
    let port = s.identity.server_port.to_string();
    let mut tags: BTreeMap<String, String> = [
        ("bootstrap", "1"),
        ("build", "1.0.8:consuela"),
        ("dc", dc),
        ("id", s.identity.node_id.as_str()),
        ("port", port.as_str()),
        ("raft_vsn", "3"),
        ("role", "consul"),
        ("segment", ""),
        ("vsn", "2"),
        ("vsn_max", "3"),
        ("vsn_min", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let (name, gossip_port) = if wan {
        (format!("{}.{dc}", s.config.node_name), SERF_WAN_PORT)
    } else {
        tags.insert("wan_join_port".to_owned(), SERF_WAN_PORT.to_string());
        (s.config.node_name.clone(), SERF_LAN_PORT)
    };
    AgentMember {
        name,
        addr: s.identity.address.clone(),
        port: gossip_port,
        tags,
        status: req.state.member_status(),
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// `Stats`: every section a 1.0.8 server reports, all values strings.
fn stats(req: &Req) -> Value {
    let s = &req.state.shared;
    let g = s.lock();
    let services = g.catalog.agent_services().count();
    let checks = g.catalog.agent_checks().count();
    let ttls = g
        .catalog
        .agent_checks()
        .filter(|c| matches!(c.kind, CheckKind::Ttl(_)))
        .count();
    let index = g.index.last().to_string();
    let event_time = g.events.clock().to_string();
    let nodes = g.catalog.nodes.len();
    drop(g);
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let leader = s.identity.server_addr();
    let configuration = format!(
        "[{{Suffrage:Voter ID:{} Address:{leader}}}]",
        s.identity.node_id
    );
    let serf = |members: usize, event_time: &str| {
        json!({
            "coordinate_resets": "0",
            "encrypted": "false",
            "event_queue": "0",
            "event_time": event_time,
            "failed": "0",
            "health_score": "0",
            "intent_queue": "0",
            "left": "0",
            "member_time": "1",
            "members": members.to_string(),
            "query_queue": "0",
            "query_time": "1",
        })
    };
    json!({
        "agent": {
            "check_monitors": "0",
            "check_ttls": ttls.to_string(),
            "checks": checks.to_string(),
            "services": services.to_string(),
        },
        "build": {"prerelease": "", "revision": "consuela", "version": "1.0.8"},
        "consul": {
            "bootstrap": "true",
            "known_datacenters": "1",
            "leader": "true",
            "leader_addr": leader,
            "server": "true",
        },
        "raft": {
            "applied_index": index,
            "commit_index": index,
            "fsm_pending": "0",
            "last_contact": "0",
            "last_log_index": index,
            "last_log_term": "2",
            "last_snapshot_index": "0",
            "last_snapshot_term": "0",
            "latest_configuration": configuration,
            "latest_configuration_index": "1",
            "num_peers": "0",
            "protocol_version": "3",
            "protocol_version_max": "3",
            "protocol_version_min": "0",
            "snapshot_version_max": "1",
            "snapshot_version_min": "0",
            "state": "Leader",
            "term": "2",
        },
        "runtime": {
            "arch": go_arch(),
            "cpu_count": cpus.to_string(),
            "goroutines": (s.tracker.len() + 8).to_string(),
            "max_procs": cpus.to_string(),
            "os": std::env::consts::OS,
            "version": "go1.10.1",
        },
        "serf_lan": serf(nodes, &event_time),
        "serf_wan": serf(1, "1"),
    })
}

pub(crate) fn agent_self(req: &Req) -> Response {
    let s = &req.state.shared;
    let coord = s
        .lock()
        .operator
        .coordinates
        .get(&(s.config.node_name.clone(), String::new()))
        .cloned();
    let body = AgentSelf {
        config: AgentConfig {
            datacenter: s.config.datacenter.clone(),
            node_name: s.config.node_name.clone().into(),
            node_id: s.identity.node_id.clone(),
            revision: "consuela".to_owned(),
            server: true,
            version: "1.0.8".to_owned(),
        },
        debug_config: json!({
            "Datacenter": s.config.datacenter,
            "DevMode": true,
            "NodeID": s.identity.node_id,
            "NodeName": s.config.node_name,
            "Revision": "consuela",
            "SerfAdvertiseAddrLAN": format!("tcp://{}:{SERF_LAN_PORT}", s.identity.address),
            "SerfAdvertiseAddrWAN": format!("tcp://{}:{SERF_WAN_PORT}", s.identity.address),
            "SerfBindAddrLAN": format!("tcp://{}:{SERF_LAN_PORT}", s.identity.address),
            "SerfBindAddrWAN": format!("tcp://{}:{SERF_WAN_PORT}", s.identity.address),
            "ServerMode": true,
            "Version": "1.0.8",
        }),
        coord,
        member: member(req, false),
        stats: stats(req),
        meta: json!({"consul-network-segment": ""}),
    };
    json(&body)
}

/// `GET /v1/agent/members[?wan=1][&segment=]`.
pub(crate) fn members(req: &Req) -> Response {
    // Any non-empty `?wan` means the WAN pool, `?wan=0` included.
    let wan = req.query.get("wan").is_some_and(|w| !w.is_empty());
    let segment = req.query.get("segment").unwrap_or("");
    let all = matches!(segment, "" | "_all");
    if wan && !all {
        return text(
            StatusCode::BAD_REQUEST,
            "Cannot provide a segment with wan=true",
        );
    }
    if !all {
        return server_error("Network segments are not supported in this version of Consul");
    }
    json(&[member(req, wan)])
}
