//! The `[discovery]` section: [`DiscoveryConfig`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;

/// What to discover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// The Consul service name.
    pub service: String,
    /// Only instances carrying every one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Longest blocking query (honoured, unlike the original's intervals).
    /// Default 30 s.
    #[serde(default = "default_wait", with = "duration")]
    pub wait: Duration,
}

fn default_wait() -> Duration {
    Duration::from_secs(30)
}

impl DiscoveryConfig {
    /// Discover every passing instance of `service`.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            tags: Vec::new(),
            wait: default_wait(),
        }
    }
}
