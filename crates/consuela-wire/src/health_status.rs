//! A check's status (`passing`, `warning`, `critical`, `maintenance`).
//!
//! Its own module because agent checks report it and catalog and health views
//! aggregate it: the agent types need it without depending on the catalog.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A check status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum HealthStatus {
    /// Healthy.
    #[serde(rename = "passing")]
    Passing,
    /// Degraded; does not invalidate sessions.
    #[serde(rename = "warning")]
    Warning,
    /// Failed; invalidates sessions bound to the check. Consul's initial status.
    #[default]
    #[serde(rename = "critical")]
    Critical,
    /// Maintenance mode (reported as a critical check by Consul).
    #[serde(rename = "maintenance")]
    Maintenance,
}

impl HealthStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passing => "passing",
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Maintenance => "maintenance",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown status string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid check status: '{0}'")]
pub struct ParseHealthStatusError(pub String);

impl FromStr for HealthStatus {
    type Err = ParseHealthStatusError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "passing" => Ok(Self::Passing),
            "warning" => Ok(Self::Warning),
            "critical" => Ok(Self::Critical),
            "maintenance" => Ok(Self::Maintenance),
            other => Err(ParseHealthStatusError(other.to_owned())),
        }
    }
}
