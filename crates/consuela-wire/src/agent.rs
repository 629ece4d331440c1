//! Agent endpoints: `/v1/agent/self`, services and checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::health_status::HealthStatus;
use crate::ids::{CheckId, Index, NodeName, ServiceId};
use crate::serde_util::null_default;

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// A check definition inside a service registration, or the body of
/// `/v1/agent/check/register`. Only set fields are sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckDefinition {
    /// Check id inside a service registration (`service:<id>` by default).
    #[serde(rename = "CheckID", default, skip_serializing_if = "Option::is_none")]
    pub check_id: Option<CheckId>,
    /// Check id for `/v1/agent/check/register` (defaults to `Name`).
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<CheckId>,
    /// Human-readable name.
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Service the check belongs to (standalone registration only).
    #[serde(rename = "ServiceID", default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<ServiceId>,
    /// TTL (Go duration string): a TTL check, updated by pass/warn/fail.
    #[serde(rename = "TTL", default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// `host:port` to dial every `Interval`: a TCP check.
    #[serde(rename = "TCP", default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    /// URL to GET every `Interval`: an HTTP check.
    #[serde(rename = "HTTP", default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Interval for TCP/HTTP checks.
    #[serde(rename = "Interval", default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Timeout for TCP/HTTP checks (default 10s).
    #[serde(rename = "Timeout", default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Initial status (`passing`, `warning`, `critical`); `critical` if unset.
    #[serde(rename = "Status", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<HealthStatus>,
    /// Free text.
    #[serde(rename = "Notes", default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Deregister the service after being critical this long (min 1m).
    #[serde(
        rename = "DeregisterCriticalServiceAfter",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deregister_critical_service_after: Option<String>,
}

/// Body of `PUT /v1/agent/service/register`. Only set fields are sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceRegistration {
    /// Service id (defaults to `Name`).
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ServiceId>,
    /// Service name (required).
    #[serde(rename = "Name", default)]
    pub name: String,
    /// Tags.
    #[serde(rename = "Tags", default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Service address.
    #[serde(rename = "Address", default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Service port.
    #[serde(rename = "Port", default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Metadata.
    #[serde(rename = "Meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<BTreeMap<String, String>>,
    /// Let the catalog override tags.
    #[serde(
        rename = "EnableTagOverride",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_tag_override: Option<bool>,
    /// One check.
    #[serde(rename = "Check", default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckDefinition>,
    /// Several checks.
    #[serde(rename = "Checks", default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<CheckDefinition>>,
}

/// A service as the agent and the catalog's node view report it.
///
/// Order as in Consul 1.0.8: `ID, Service, Tags, Address, Meta, Port,
/// EnableTagOverride, CreateIndex, ModifyIndex`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgentService {
    /// Service id.
    #[serde(rename = "ID", default, deserialize_with = "null_default")]
    pub id: ServiceId,
    /// Service name.
    #[serde(rename = "Service", default, deserialize_with = "null_default")]
    pub service: String,
    /// Tags (`null` reads as empty).
    #[serde(rename = "Tags", default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    /// Service address, `""` if unset.
    #[serde(rename = "Address", default, deserialize_with = "null_default")]
    pub address: String,
    /// Metadata; `null` for the built-in `consul` service.
    #[serde(rename = "Meta", default)]
    pub meta: Option<BTreeMap<String, String>>,
    /// Port (0 if missing).
    #[serde(rename = "Port", default)]
    pub port: u16,
    /// Tag override flag.
    #[serde(rename = "EnableTagOverride", default)]
    pub enable_tag_override: bool,
    /// Catalog create index (0 in agent-local views).
    #[serde(rename = "CreateIndex", default)]
    pub create_index: Index,
    /// Catalog modify index (0 in agent-local views).
    #[serde(rename = "ModifyIndex", default)]
    pub modify_index: Index,
}

/// A health check as `/v1/agent/checks` and the health endpoints report it.
///
/// Order as in Consul 1.0.8: `Node, CheckID, Name, Status, Notes, Output,
/// ServiceID, ServiceName, ServiceTags, Definition, CreateIndex, ModifyIndex`.
/// Newer fields (`Type`, `Interval`, `Timeout`, ...) are ignored on decode.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgentCheck {
    /// Node the check runs on.
    #[serde(rename = "Node", default, deserialize_with = "null_default")]
    pub node: NodeName,
    /// Check id.
    #[serde(rename = "CheckID", default, deserialize_with = "null_default")]
    pub check_id: CheckId,
    /// Name.
    #[serde(rename = "Name", default, deserialize_with = "null_default")]
    pub name: String,
    /// Current status.
    #[serde(rename = "Status", default)]
    pub status: HealthStatus,
    /// Notes.
    #[serde(rename = "Notes", default, deserialize_with = "null_default")]
    pub notes: String,
    /// Last output.
    #[serde(rename = "Output", default, deserialize_with = "null_default")]
    pub output: String,
    /// Owning service id, `""` for node checks.
    #[serde(rename = "ServiceID", default, deserialize_with = "null_default")]
    pub service_id: String,
    /// Owning service name.
    #[serde(rename = "ServiceName", default, deserialize_with = "null_default")]
    pub service_name: String,
    /// Owning service's tags.
    #[serde(rename = "ServiceTags", default, deserialize_with = "null_default")]
    pub service_tags: Vec<String>,
    /// Definition (always `{}` on a 1.0.8 agent).
    #[serde(rename = "Definition", default = "empty_object")]
    pub definition: serde_json::Value,
    /// Catalog create index (0 in agent-local views).
    #[serde(rename = "CreateIndex", default)]
    pub create_index: Index,
    /// Catalog modify index (0 in agent-local views).
    #[serde(rename = "ModifyIndex", default)]
    pub modify_index: Index,
}

/// `Config` of `/v1/agent/self`: the agent's identity.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgentConfig {
    /// Datacenter, e.g. `dc1`.
    #[serde(rename = "Datacenter", default, deserialize_with = "null_default")]
    pub datacenter: String,
    /// The agent's node name: the default session node.
    #[serde(rename = "NodeName", default, deserialize_with = "null_default")]
    pub node_name: NodeName,
    /// Node id (UUID).
    #[serde(rename = "NodeID", default, deserialize_with = "null_default")]
    pub node_id: String,
    /// Git revision.
    #[serde(rename = "Revision", default, deserialize_with = "null_default")]
    pub revision: String,
    /// Whether the agent is a server.
    #[serde(rename = "Server", default)]
    pub server: bool,
    /// Consul version, e.g. `1.0.8`.
    #[serde(rename = "Version", default, deserialize_with = "null_default")]
    pub version: String,
}

/// `Member` of `/v1/agent/self`: the agent's gossip member record.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AgentMember {
    /// Node name.
    #[serde(rename = "Name", default, deserialize_with = "null_default")]
    pub name: String,
    /// Address.
    #[serde(rename = "Addr", default, deserialize_with = "null_default")]
    pub addr: String,
    /// Gossip port.
    #[serde(rename = "Port", default)]
    pub port: u16,
    /// Tags (`role`, `dc`, `id`, `port`, `vsn`, ...).
    #[serde(rename = "Tags", default, deserialize_with = "null_default")]
    pub tags: BTreeMap<String, String>,
    /// 1 = alive.
    #[serde(rename = "Status", default)]
    pub status: i64,
    /// Protocol range.
    #[serde(rename = "ProtocolMin", default)]
    pub protocol_min: u8,
    /// Protocol range.
    #[serde(rename = "ProtocolMax", default)]
    pub protocol_max: u8,
    /// Protocol in use.
    #[serde(rename = "ProtocolCur", default)]
    pub protocol_cur: u8,
    /// Delegate protocol range.
    #[serde(rename = "DelegateMin", default)]
    pub delegate_min: u8,
    /// Delegate protocol range.
    #[serde(rename = "DelegateMax", default)]
    pub delegate_max: u8,
    /// Delegate protocol in use.
    #[serde(rename = "DelegateCur", default)]
    pub delegate_cur: u8,
}

/// `GET /v1/agent/self`, fields in Consul 1.0.8's order. `DebugConfig`,
/// `Meta` and `Stats` are kept as raw JSON: they are unstable across
/// versions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentSelf {
    /// Identity.
    #[serde(rename = "Config", default)]
    pub config: AgentConfig,
    /// Full runtime config (unstable).
    #[serde(rename = "DebugConfig", default)]
    pub debug_config: serde_json::Value,
    /// Network coordinate, or `null` when coordinates are disabled.
    #[serde(rename = "Coord", default)]
    pub coord: Option<crate::Coord>,
    /// Gossip member.
    #[serde(rename = "Member", default)]
    pub member: AgentMember,
    /// Runtime statistics: sections of string values.
    #[serde(rename = "Stats", default)]
    pub stats: serde_json::Value,
    /// Node metadata.
    #[serde(rename = "Meta", default)]
    pub meta: serde_json::Value,
}

#[cfg(test)]
mod tests;
