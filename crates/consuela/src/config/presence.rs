//! The `[presence]` section: [`PresenceConfig`] and its [`PresenceCheck`].

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;

/// How Consul checks that this member is alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum PresenceCheck {
    /// Consul dials a listener we own every `interval`.
    Tcp {
        /// Where to listen (port 0 picks one). Default `0.0.0.0:0`.
        #[serde(default = "default_listen")]
        listen: SocketAddr,
        /// Check interval. Default 5 s, as the original.
        #[serde(default = "default_interval", with = "duration")]
        interval: Duration,
    },
    /// We report "passing" every `ttl / 3`; Consul marks the check critical
    /// when `ttl` passes without a report.
    Ttl {
        /// Default 10 s.
        #[serde(default = "default_ttl", with = "duration")]
        ttl: Duration,
    },
}

fn default_listen() -> SocketAddr {
    ([0, 0, 0, 0], 0).into()
}
fn default_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_ttl() -> Duration {
    Duration::from_secs(10)
}

impl Default for PresenceCheck {
    fn default() -> Self {
        Self::Tcp {
            listen: default_listen(),
            interval: default_interval(),
        }
    }
}

/// Presence settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceConfig {
    /// The Consul service name.
    pub service: String,
    /// The service id. Default `<service>-<member>`.
    #[serde(default)]
    pub service_id: Option<String>,
    /// The advertised address. Default: the TCP listener's address, or none
    /// (Consul then uses the node's).
    #[serde(default)]
    pub address: Option<String>,
    /// The advertised port. Default: the TCP listener's port.
    #[serde(default)]
    pub port: Option<u16>,
    /// Service tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The check.
    #[serde(default)]
    pub check: PresenceCheck,
    /// Let Consul deregister the service once its check has been critical
    /// this long (Consul's minimum is one minute).
    #[serde(default, with = "duration::option")]
    pub deregister_critical_after: Option<Duration>,
}

impl PresenceConfig {
    /// A TCP-checked presence for `service` with every default.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            service_id: None,
            address: None,
            port: None,
            tags: Vec::new(),
            check: PresenceCheck::default(),
            deregister_critical_after: None,
        }
    }
}
