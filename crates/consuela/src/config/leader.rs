//! The `[leader]` section: [`SingletonConfig`], how a singleton's standbys behave.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;
use crate::retry::RetryPolicy;

/// How a member behaves while it cannot lead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SingletonConfig {
    /// Back-off between takeover attempts refused by lock-delay or by an
    /// unreachable Consul. Default, as the original: exponential 1, 2, 4, 5,
    /// 5 … s for about 30 s.
    #[serde(default = "default_retry")]
    pub retry: RetryPolicy,
    /// Stop (instead of retrying at the policy's cap) once `retry` is exhausted.
    #[serde(default)]
    pub give_up: bool,
    /// Longest blocking query while standing by. Default 30 s.
    #[serde(default = "default_wait", with = "duration")]
    pub watch_wait: Duration,
}

fn default_retry() -> RetryPolicy {
    RetryPolicy::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(5))
        .max_total_timeout(Duration::from_secs(30))
}

fn default_wait() -> Duration {
    Duration::from_secs(30)
}

impl Default for SingletonConfig {
    fn default() -> Self {
        Self {
            retry: default_retry(),
            give_up: false,
            watch_wait: default_wait(),
        }
    }
}
