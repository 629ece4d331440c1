//! Catalog and health views.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::agent::{AgentCheck, AgentService};
use crate::health_status::HealthStatus;
use crate::ids::{Index, NodeName, ServiceId};
use crate::serde_util::null_default;

/// A catalog node (`/v1/catalog/nodes`, `Node` of health entries).
///
/// Order as in Consul 1.0.8: `ID, Node, Address, Datacenter, TaggedAddresses,
/// Meta, CreateIndex, ModifyIndex`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CatalogNode {
    /// Node id (UUID).
    #[serde(rename = "ID", default, deserialize_with = "null_default")]
    pub id: String,
    /// Node name.
    #[serde(rename = "Node", default, deserialize_with = "null_default")]
    pub node: NodeName,
    /// Address.
    #[serde(rename = "Address", default, deserialize_with = "null_default")]
    pub address: String,
    /// Datacenter.
    #[serde(rename = "Datacenter", default, deserialize_with = "null_default")]
    pub datacenter: String,
    /// `lan`/`wan` addresses (`null` when a registration gave none).
    #[serde(rename = "TaggedAddresses", default)]
    pub tagged_addresses: Option<BTreeMap<String, String>>,
    /// Node metadata (`null` when a registration gave none).
    #[serde(rename = "Meta", default)]
    pub meta: Option<BTreeMap<String, String>>,
    /// Create index.
    #[serde(rename = "CreateIndex", default)]
    pub create_index: Index,
    /// Modify index.
    #[serde(rename = "ModifyIndex", default)]
    pub modify_index: Index,
}

/// `GET /v1/catalog/node/<node>`: the node and its services (or `null`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeServices {
    /// The node.
    #[serde(rename = "Node", default)]
    pub node: CatalogNode,
    /// Services by id.
    #[serde(rename = "Services", default, deserialize_with = "null_default")]
    pub services: BTreeMap<String, AgentService>,
}

/// One entry of `GET /v1/catalog/service/<name>`: a flattened node + service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CatalogServiceEntry {
    /// Node id.
    #[serde(rename = "ID", default, deserialize_with = "null_default")]
    pub id: String,
    /// Node name.
    #[serde(rename = "Node", default, deserialize_with = "null_default")]
    pub node: NodeName,
    /// Node address.
    #[serde(rename = "Address", default, deserialize_with = "null_default")]
    pub address: String,
    /// Datacenter.
    #[serde(rename = "Datacenter", default, deserialize_with = "null_default")]
    pub datacenter: String,
    /// Node tagged addresses (`null` when the node has none).
    #[serde(rename = "TaggedAddresses", default)]
    pub tagged_addresses: Option<BTreeMap<String, String>>,
    /// Node metadata (`null` when the node has none).
    #[serde(rename = "NodeMeta", default)]
    pub node_meta: Option<BTreeMap<String, String>>,
    /// Service id.
    #[serde(rename = "ServiceID", default, deserialize_with = "null_default")]
    pub service_id: ServiceId,
    /// Service name.
    #[serde(rename = "ServiceName", default, deserialize_with = "null_default")]
    pub service_name: String,
    /// Service tags.
    #[serde(rename = "ServiceTags", default, deserialize_with = "null_default")]
    pub service_tags: Vec<String>,
    /// Service address.
    #[serde(rename = "ServiceAddress", default, deserialize_with = "null_default")]
    pub service_address: String,
    /// Service metadata.
    #[serde(rename = "ServiceMeta", default)]
    pub service_meta: Option<BTreeMap<String, String>>,
    /// Service port.
    #[serde(rename = "ServicePort", default)]
    pub service_port: u16,
    /// Tag override flag.
    #[serde(rename = "ServiceEnableTagOverride", default)]
    pub service_enable_tag_override: bool,
    /// Create index.
    #[serde(rename = "CreateIndex", default)]
    pub create_index: Index,
    /// Modify index.
    #[serde(rename = "ModifyIndex", default)]
    pub modify_index: Index,
}

/// One entry of `GET /v1/health/service/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HealthServiceEntry {
    /// The node.
    #[serde(rename = "Node", default)]
    pub node: CatalogNode,
    /// The service instance.
    #[serde(rename = "Service", default)]
    pub service: AgentService,
    /// Node checks (e.g. `serfHealth`) and the service's checks.
    #[serde(rename = "Checks", default, deserialize_with = "null_default")]
    pub checks: Vec<AgentCheck>,
}

impl HealthServiceEntry {
    /// Whether every check passes (what `?passing` keeps).
    pub fn is_passing(&self) -> bool {
        self.checks
            .iter()
            .all(|c| c.status == HealthStatus::Passing)
    }
}

#[cfg(test)]
mod tests;
