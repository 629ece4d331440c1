//! Server configuration.

use std::time::Duration;

use crate::error::Error;

/// Configuration of a [`DevServer`](crate::DevServer).
///
/// Every field is public and documented with its default, so tests can lower
/// the time-based knobs (`session_ttl_min`, `session_ttl_multiplier`, ...) and
/// run expiry scenarios in milliseconds. All knobs exist in real Consul too.
///
/// Its `Debug` output never shows the ACL master token.
#[derive(Clone)]
#[non_exhaustive]
pub struct DevServerConfig {
    /// The agent's node name (`Config.NodeName`, default session node).
    /// Default `consuela-dev`.
    pub node_name: String,
    /// The agent's node id (a UUID, Consul's `node_id`). Default: random.
    pub node_id: Option<String>,
    /// More catalog nodes, each with a passing `serfHealth` check, so tests can
    /// bind sessions to e.g. `consul0`, `consul1`, `consul2`. Default none.
    pub extra_nodes: Vec<String>,
    /// Datacenter; any other `?dc=` answers 500 `No path to datacenter`.
    /// Default `dc1`.
    pub datacenter: String,
    /// The master (management) token. `None` (default) turns ACLs off;
    /// `Some` turns on Consul 1.0.8's legacy ACL system: requests present a
    /// token (`?token=`, `X-Consul-Token` or `Authorization: Bearer`; none is
    /// the anonymous token), unknown tokens get 403 `ACL not found`, and
    /// client tokens made through `/v1/acl/create` carry rules.
    pub acl_token: Option<String>,
    /// With ACLs on, what a token may do where its rules say nothing
    /// (Consul's `acl_default_policy`): `true` allows, `false` (default here;
    /// Consul's default is allow) denies, so that the anonymous token can do
    /// nothing and tests see every missing token.
    pub acl_default_allow: bool,
    /// With ACLs on, whether node, session and agent rules are enforced and
    /// node lists filtered (Consul's `acl_enforce_version_8`). Default
    /// `true`, as in Consul 1.0.
    pub acl_enforce_version_8: bool,
    /// Shortest session TTL accepted (Consul's `session_ttl_min`). Default 10 s.
    pub session_ttl_min: Duration,
    /// Longest session TTL accepted. Default 24 h.
    pub session_ttl_max: Duration,
    /// A session expires `TTL × multiplier` after its last renew, as Consul's
    /// leader does (`SessionTTLMultiplier`). Default 2.0; must be ≥ 1.
    pub session_ttl_multiplier: f64,
    /// Lock-delays longer than this are enforced as this (`MaxLockDelay`).
    /// Default 60 s.
    pub lock_delay_max: Duration,
    /// Largest KV value (`kv_max_value_size`). Default 524288 bytes.
    pub max_value_size: usize,
    /// Most operations in one `/v1/txn` (64 like Consul 1.0.8; 128 since 1.14).
    pub txn_max_ops: usize,
    /// Largest `/v1/txn` body (`txn_max_req_len`). Default 524288 bytes.
    pub txn_max_req_len: usize,
    /// Largest body accepted by the other endpoints. Default 1 MiB.
    pub max_body_size: usize,
    /// Blocking-query wait when none (or ≤ 0) is given. Default 5 min.
    pub default_query_time: Duration,
    /// Longest blocking-query wait; larger `?wait=` is clamped. Default 10 min.
    pub max_query_time: Duration,
    /// Shortest interval a TCP/HTTP check runs at (Consul: 1 s). Default 1 s.
    pub check_interval_min: Duration,
    /// Whether script checks (`Script`, `Args`) may be registered and run, as
    /// Consul's `enable_script_checks`: they run commands on this host.
    /// Default `false` (registering one answers Consul's 500).
    pub enable_script_checks: bool,
    /// How long a deleted key's tombstone is kept (Consul's
    /// `tombstone_ttl`). After that a prefix's index may go backwards, as in
    /// Consul (hashicorp/consul#577). Default 15 min.
    pub tombstone_ttl: Duration,
}

impl std::fmt::Debug for DevServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevServerConfig")
            .field("node_name", &self.node_name)
            .field("node_id", &self.node_id)
            .field("extra_nodes", &self.extra_nodes)
            .field("datacenter", &self.datacenter)
            .field("acl_token", &self.acl_token.as_ref().map(|_| "<redacted>"))
            .field("acl_default_allow", &self.acl_default_allow)
            .field("acl_enforce_version_8", &self.acl_enforce_version_8)
            .field("session_ttl_min", &self.session_ttl_min)
            .field("session_ttl_max", &self.session_ttl_max)
            .field("session_ttl_multiplier", &self.session_ttl_multiplier)
            .field("lock_delay_max", &self.lock_delay_max)
            .field("max_value_size", &self.max_value_size)
            .field("txn_max_ops", &self.txn_max_ops)
            .field("txn_max_req_len", &self.txn_max_req_len)
            .field("max_body_size", &self.max_body_size)
            .field("default_query_time", &self.default_query_time)
            .field("max_query_time", &self.max_query_time)
            .field("check_interval_min", &self.check_interval_min)
            .field("enable_script_checks", &self.enable_script_checks)
            .field("tombstone_ttl", &self.tombstone_ttl)
            .finish()
    }
}

impl Default for DevServerConfig {
    fn default() -> Self {
        Self {
            node_name: "consuela-dev".to_owned(),
            node_id: None,
            extra_nodes: Vec::new(),
            datacenter: "dc1".to_owned(),
            acl_token: None,
            acl_default_allow: false,
            acl_enforce_version_8: true,
            session_ttl_min: Duration::from_secs(10),
            session_ttl_max: Duration::from_secs(24 * 3600),
            session_ttl_multiplier: 2.0,
            lock_delay_max: Duration::from_secs(60),
            max_value_size: 512 * 1024,
            txn_max_ops: 64,
            txn_max_req_len: 512 * 1024,
            max_body_size: 1024 * 1024,
            default_query_time: Duration::from_secs(300),
            max_query_time: Duration::from_secs(600),
            check_interval_min: Duration::from_secs(1),
            tombstone_ttl: Duration::from_secs(15 * 60),
            enable_script_checks: false,
        }
    }
}

impl DevServerConfig {
    /// The defaults with `session_ttl_min`, `check_interval_min` and the
    /// multiplier lowered for fast tests: TTLs down to 100 ms are accepted and
    /// expire after exactly one TTL.
    pub fn fast() -> Self {
        Self {
            session_ttl_min: Duration::from_millis(100),
            session_ttl_multiplier: 1.0,
            check_interval_min: Duration::from_millis(10),
            ..Self::default()
        }
    }

    /// Sets `extra_nodes` (builder style).
    pub fn with_extra_nodes<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_nodes = nodes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `acl_token` (builder style).
    pub fn with_acl_token(mut self, token: impl Into<String>) -> Self {
        self.acl_token = Some(token.into());
        self
    }

    /// Sets `node_name` (builder style).
    pub fn with_node_name(mut self, name: impl Into<String>) -> Self {
        self.node_name = name.into();
        self
    }

    /// Checks cross-field rules.
    pub fn validate(self) -> Result<Self, Error> {
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        if self.node_name.is_empty() {
            return bad("node_name must not be empty");
        }
        if self
            .extra_nodes
            .iter()
            .any(|n| n.is_empty() || *n == self.node_name)
        {
            return bad("extra_nodes must be non-empty and differ from node_name");
        }
        if self.datacenter.is_empty() {
            return bad("datacenter must not be empty");
        }
        if let Some(id) = &self.node_id
            && (id.len() != 36 || uuid::Uuid::parse_str(id).is_err())
        {
            return bad("node_id must be a UUID");
        }
        if self.session_ttl_min.is_zero() || self.session_ttl_min > self.session_ttl_max {
            return bad("need 0 < session_ttl_min <= session_ttl_max");
        }
        if !(self.session_ttl_multiplier >= 1.0 && self.session_ttl_multiplier <= 100.0) {
            return bad("session_ttl_multiplier must be within [1, 100]");
        }
        if self.txn_max_ops == 0 || self.max_value_size == 0 {
            return bad("txn_max_ops and max_value_size must be > 0");
        }
        if self.default_query_time.is_zero() || self.default_query_time > self.max_query_time {
            return bad("need 0 < default_query_time <= max_query_time");
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_master_token() {
        let config = DevServerConfig::default().with_acl_token("m4st3r-t0k3n");
        let debug = format!("{config:?}");
        assert!(!debug.contains("m4st3r-t0k3n"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
}
