//! [`Member`]: one live instance of a discovered service.

use std::collections::BTreeMap;

/// One live instance of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The service instance id.
    pub id: String,
    /// The consuela member name from the service meta, when it is one of ours.
    pub member: Option<String>,
    /// The Consul node it runs on.
    pub node: String,
    /// The service address (or the node's when the service has none).
    pub address: String,
    /// The service port.
    pub port: u16,
    /// The service tags.
    pub tags: Vec<String>,
    /// The service meta.
    pub meta: BTreeMap<String, String>,
}

/// The live members, by service instance id.
pub type Members = BTreeMap<String, Member>;
