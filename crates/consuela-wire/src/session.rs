//! Sessions: what `/v1/session/{info,list,node,renew}` return and what
//! `/v1/session/create` accepts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::duration::GoDuration;
use crate::ids::{CheckId, Index, NodeName, SessionId};
use crate::serde_util::null_default;

/// What happens to keys a session holds when it is invalidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Behavior {
    /// Release the locks (the keys stay, without `Session`). Consul's default.
    #[default]
    #[serde(rename = "release")]
    Release,
    /// Delete the held keys.
    #[serde(rename = "delete")]
    Delete,
}

impl Behavior {
    /// The wire spelling (`release` / `delete`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Delete => "delete",
        }
    }
}

impl fmt::Display for Behavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown behavior string; matching is case-sensitive, as in Consul.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid Behavior setting '{0}'")]
pub struct ParseBehaviorError(pub String);

impl FromStr for Behavior {
    type Err = ParseBehaviorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "release" => Ok(Self::Release),
            "delete" => Ok(Self::Delete),
            other => Err(ParseBehaviorError(other.to_owned())),
        }
    }
}

/// A service-level check reference in a session (Consul 1.7+ `ServiceChecks`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceCheckRef {
    /// The check id, e.g. `service:web-1`.
    #[serde(rename = "ID", default)]
    pub id: CheckId,
    /// Enterprise namespace; empty in CE.
    #[serde(
        rename = "Namespace",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub namespace: String,
}

/// A session as Consul returns it.
///
/// Output order matches Consul 1.0.8: `ID, Name, Node, Checks, LockDelay,
/// Behavior, TTL, CreateIndex, ModifyIndex`. Newer agents also send
/// `NodeChecks`/`ServiceChecks` (and omit `Checks` when empty); both read fine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionEntry {
    /// Session id.
    #[serde(rename = "ID")]
    pub id: SessionId,
    /// Free text, default empty.
    #[serde(rename = "Name", default, deserialize_with = "null_default")]
    pub name: String,
    /// Node the session is bound to.
    #[serde(rename = "Node", default, deserialize_with = "null_default")]
    pub node: NodeName,
    /// Legacy (pre-1.7) effective check list; `null` reads as empty.
    #[serde(rename = "Checks", default, deserialize_with = "null_default")]
    pub checks: Vec<CheckId>,
    /// Node-level checks (Consul 1.7+); absent on older agents.
    #[serde(
        rename = "NodeChecks",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub node_checks: Option<Vec<CheckId>>,
    /// Service-level checks (Consul 1.7+); absent on older agents.
    #[serde(
        rename = "ServiceChecks",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_checks: Option<Vec<ServiceCheckRef>>,
    /// Lock-delay in nanoseconds (an integer on output; a Go string also reads).
    #[serde(rename = "LockDelay", default)]
    pub lock_delay: GoDuration,
    /// Release or delete held keys on invalidation.
    #[serde(rename = "Behavior", default)]
    pub behavior: Behavior,
    /// TTL exactly as given at create (e.g. `"10s"`), `""` for none.
    #[serde(rename = "TTL", default, deserialize_with = "null_default")]
    pub ttl: String,
    /// Creation index.
    #[serde(rename = "CreateIndex", default)]
    pub create_index: Index,
    /// Equal to `CreateIndex`: sessions are immutable.
    #[serde(rename = "ModifyIndex", default)]
    pub modify_index: Index,
}

impl SessionEntry {
    /// Every check the session depends on: `Checks`, `NodeChecks` and the ids in
    /// `ServiceChecks`, deduplicated, in that order.
    pub fn all_checks(&self) -> Vec<CheckId> {
        let mut out: Vec<CheckId> = Vec::new();
        let node = self.node_checks.iter().flatten();
        let svc = self.service_checks.iter().flatten().map(|s| &s.id);
        for c in self.checks.iter().chain(node).chain(svc) {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }
}

/// Body of `PUT /v1/session/create`. Only the fields that are set are sent, so
/// the server's defaults apply to the rest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionRequest {
    /// Session name.
    #[serde(rename = "Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Node to bind to (default: the agent's node).
    #[serde(rename = "Node", default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeName>,
    /// Legacy check list; `Some(vec![])` creates a session without checks.
    #[serde(rename = "Checks", default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<CheckId>>,
    /// Node checks (Consul 1.7+).
    #[serde(
        rename = "NodeChecks",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub node_checks: Option<Vec<CheckId>>,
    /// Service checks (Consul 1.7+).
    #[serde(
        rename = "ServiceChecks",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_checks: Option<Vec<ServiceCheckRef>>,
    /// Lock-delay; sent as a Go string (`"0s"`) so that zero is expressible.
    #[serde(
        rename = "LockDelay",
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "GoDuration::serialize_as_string"
    )]
    pub lock_delay: Option<GoDuration>,
    /// Release or delete.
    #[serde(rename = "Behavior", default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Behavior>,
    /// TTL as a Go duration string, e.g. `"20s"`.
    #[serde(rename = "TTL", default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

/// Answer of `PUT /v1/session/create`: `{"ID": "<uuid>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionCreateResponse {
    /// The new session's id.
    #[serde(rename = "ID")]
    pub id: SessionId,
}

#[cfg(test)]
mod tests;
