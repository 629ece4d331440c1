//! The catalog: nodes, services and health checks, keyed by node.
//!
//! The agent and the catalog are one store here: what the agent registers is
//! in the catalog at once (real Consul syncs within milliseconds). Entries
//! remember their [`Origin`], so the agent endpoints show only the agent's
//! own services and checks while `catalog/register` can add external nodes.
//!
//! `catalog/agent.rs` holds the agent's registrations and maintenance mode,
//! `catalog/register.rs` the catalog endpoint's, `catalog/status.rs` check
//! status changes (TTL, runners), `catalog/rows.rs` the (node, id) row keys.

mod agent;
mod index;
mod register;
mod rows;
mod status;

use std::collections::BTreeMap;
use std::time::Duration;

use consuela_wire::{
    AgentCheck, AgentService, CatalogNode, CheckId, HealthStatus, Index, NodeName, ServiceId,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::identity::Identity;
use super::{Inner, TimerKey};
use crate::config::DevServerConfig;
use rows::{RowKey, range_of};

pub(crate) use register::{CatalogDeregistration, CatalogRegistration, NodeSpec};

/// The check id of every node's gossip health check.
pub(crate) const SERF_CHECK: &str = "serfHealth";

/// Who put an entry in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The agent's own registrations: shown by `/v1/agent/*`.
    Agent,
    /// What the server itself keeps (`serfHealth`, the `consul` service, the
    /// agent node): never removed, not shown by `/v1/agent/services|checks`.
    Builtin,
    /// `PUT /v1/catalog/register`.
    Catalog,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeRecord {
    pub(crate) id: String,
    pub(crate) address: String,
    pub(crate) tagged_addresses: Option<BTreeMap<String, String>>,
    pub(crate) meta: Option<BTreeMap<String, String>>,
    pub(crate) origin: Origin,
    pub(crate) create_index: u64,
    pub(crate) modify_index: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) tags: Vec<String>,
    pub(crate) address: String,
    pub(crate) meta: Option<BTreeMap<String, String>>,
    pub(crate) port: u16,
    pub(crate) enable_tag_override: bool,
    pub(crate) origin: Origin,
    pub(crate) create_index: u64,
    pub(crate) modify_index: u64,
}

impl ServiceRecord {
    /// A row for `spec`, indexes to be set by the caller.
    pub(crate) fn new(spec: ServiceSpec, origin: Origin) -> Self {
        Self {
            id: spec.id,
            name: spec.name,
            tags: spec.tags,
            address: spec.address,
            meta: spec.meta,
            port: spec.port,
            enable_tag_override: spec.enable_tag_override,
            origin,
            create_index: 0,
            modify_index: 0,
        }
    }
}

/// How a check gets its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckKind {
    /// `serfHealth`: always passing on a single node.
    Serf,
    /// Set only by writes: catalog-registered checks and maintenance mode.
    Static,
    /// Updated by pass/warn/fail/update; critical when not updated within TTL.
    Ttl(Duration),
    /// Dials `addr` every `interval`.
    Tcp {
        addr: String,
        interval: Duration,
        timeout: Duration,
    },
    /// GETs `url` every `interval`.
    Http {
        url: String,
        interval: Duration,
        timeout: Duration,
    },
    /// Runs `args` every `interval` (only with `enable_script_checks`).
    Script {
        args: Vec<String>,
        interval: Duration,
        timeout: Duration,
    },
}

impl CheckKind {
    /// The interval and per-run timeout of a check that runs on a timer.
    pub(crate) fn schedule(&self) -> Option<(Duration, Duration)> {
        match self {
            Self::Tcp {
                interval, timeout, ..
            }
            | Self::Http {
                interval, timeout, ..
            }
            | Self::Script {
                interval, timeout, ..
            } => Some((*interval, *timeout)),
            Self::Serf | Self::Static | Self::Ttl(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CheckRecord {
    pub(crate) node: String,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: HealthStatus,
    pub(crate) notes: String,
    pub(crate) output: String,
    pub(crate) service_id: String,
    pub(crate) kind: CheckKind,
    pub(crate) origin: Origin,
    pub(crate) ttl_deadline: Option<Instant>,
    /// Cancels the TCP/HTTP runner of this registration.
    pub(crate) runner: Option<CancellationToken>,
    pub(crate) create_index: u64,
    pub(crate) modify_index: u64,
}

/// Nodes, and services and checks keyed by (node, id).
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub(crate) agent_node: String,
    pub(crate) datacenter: String,
    pub(crate) nodes: BTreeMap<String, NodeRecord>,
    pub(crate) services: BTreeMap<RowKey, ServiceRecord>,
    pub(crate) checks: BTreeMap<RowKey, CheckRecord>,
    pub(crate) indexes: index::CatalogIndexes,
}

/// A check to register (decoded and validated by the HTTP layer).
#[derive(Debug, Clone)]
pub(crate) struct CheckSpec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: Option<HealthStatus>,
    pub(crate) notes: String,
    pub(crate) output: String,
    pub(crate) service_id: String,
    pub(crate) kind: CheckKind,
}

/// A service to register.
#[derive(Debug, Clone)]
pub(crate) struct ServiceSpec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) tags: Vec<String>,
    pub(crate) address: String,
    pub(crate) meta: Option<BTreeMap<String, String>>,
    pub(crate) port: u16,
    pub(crate) enable_tag_override: bool,
    pub(crate) checks: Vec<CheckSpec>,
    pub(crate) replace_existing_checks: bool,
}

/// A runner the caller must spawn after releasing the lock.
#[derive(Debug)]
pub(crate) struct RunnerSpawn {
    pub(crate) node: String,
    pub(crate) check: String,
    pub(crate) kind: CheckKind,
    pub(crate) token: CancellationToken,
}

impl Catalog {
    pub(crate) fn node_wire(&self, name: &str, n: &NodeRecord) -> CatalogNode {
        CatalogNode {
            id: n.id.clone(),
            node: NodeName(name.to_owned()),
            address: n.address.clone(),
            datacenter: self.datacenter.clone(),
            tagged_addresses: n.tagged_addresses.clone(),
            meta: n.meta.clone(),
            create_index: Index(n.create_index),
            modify_index: Index(n.modify_index),
        }
    }

    pub(crate) fn service_wire(s: &ServiceRecord, indexes: bool) -> AgentService {
        AgentService {
            id: ServiceId(s.id.clone()),
            service: s.name.clone(),
            tags: s.tags.clone(),
            address: s.address.clone(),
            meta: s.meta.clone(),
            port: s.port,
            enable_tag_override: s.enable_tag_override,
            create_index: Index(if indexes { s.create_index } else { 0 }),
            modify_index: Index(if indexes { s.modify_index } else { 0 }),
        }
    }

    pub(crate) fn check_wire(&self, c: &CheckRecord, indexes: bool) -> AgentCheck {
        let svc = self.service_of(c);
        AgentCheck {
            node: NodeName(c.node.clone()),
            check_id: CheckId(c.id.clone()),
            name: c.name.clone(),
            status: c.status,
            notes: c.notes.clone(),
            output: c.output.clone(),
            service_id: c.service_id.clone(),
            service_name: svc.map(|s| s.name.clone()).unwrap_or_default(),
            service_tags: svc.map(|s| s.tags.clone()).unwrap_or_default(),
            definition: serde_json::Value::Object(serde_json::Map::new()),
            create_index: Index(if indexes { c.create_index } else { 0 }),
            modify_index: Index(if indexes { c.modify_index } else { 0 }),
        }
    }

    /// The service a check belongs to, if any.
    pub(crate) fn service_of(&self, c: &CheckRecord) -> Option<&ServiceRecord> {
        if c.service_id.is_empty() {
            return None;
        }
        self.services.get(&(c.node.clone(), c.service_id.clone()))
    }

    /// The services of `node`, by id.
    pub(crate) fn node_services<'a>(
        &'a self,
        node: &'a str,
    ) -> impl Iterator<Item = &'a ServiceRecord> + 'a {
        range_of(&self.services, node).map(|(_, s)| s)
    }

    /// Checks of `node`: node checks first, then service checks, each by id.
    pub(crate) fn node_checks<'a>(
        &'a self,
        node: &'a str,
    ) -> impl Iterator<Item = &'a CheckRecord> + 'a {
        let (node_level, svc): (Vec<_>, Vec<_>) = range_of(&self.checks, node)
            .map(|(_, c)| c)
            .partition(|c| c.service_id.is_empty());
        node_level.into_iter().chain(svc)
    }

    /// Every instance of service `name` (with `tag`, if given), as
    /// (node, service), in Consul's (node, service id) order.
    pub(crate) fn instances<'a>(
        &'a self,
        name: &'a str,
        tag: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a str, &'a ServiceRecord)> + 'a {
        self.services
            .iter()
            .filter(move |(_, s)| {
                s.name == name && tag.is_none_or(|t| s.tags.iter().any(|x| x == t))
            })
            .map(|((node, _), s)| (node.as_str(), s))
    }

    /// `CheckServiceNodes`: every instance of service `name` (with `tag`, if
    /// given) on a node that `keep` accepts, with its node and the node's
    /// and the service's checks.
    pub(crate) fn health_entries(
        &self,
        name: &str,
        tag: Option<&str>,
        keep: impl Fn(&str) -> bool,
    ) -> Vec<consuela_wire::HealthServiceEntry> {
        self.instances(name, tag)
            .filter(|(node, _)| keep(node))
            .filter_map(|(node, s)| {
                Some(consuela_wire::HealthServiceEntry {
                    node: self.node_wire(node, self.nodes.get(node)?),
                    service: Self::service_wire(s, true),
                    checks: self
                        .node_checks(node)
                        .filter(|ch| ch.service_id.is_empty() || ch.service_id == s.id)
                        .map(|ch| self.check_wire(ch, true))
                        .collect(),
                })
            })
            .collect()
    }

    /// The agent's own services (what `/v1/agent/services` lists).
    pub(crate) fn agent_services(&self) -> impl Iterator<Item = &ServiceRecord> {
        self.node_services(&self.agent_node)
            .filter(|s| s.origin == Origin::Agent)
    }

    /// The agent's own checks (what `/v1/agent/checks` lists).
    pub(crate) fn agent_checks(&self) -> impl Iterator<Item = &CheckRecord> {
        range_of(&self.checks, &self.agent_node)
            .map(|(_, c)| c)
            .filter(|c| c.origin == Origin::Agent)
    }

    /// An agent service by id.
    pub(crate) fn agent_service(&self, id: &str) -> Option<&ServiceRecord> {
        self.services
            .get(&(self.agent_node.clone(), id.to_owned()))
            .filter(|s| s.origin == Origin::Agent)
    }
}

impl Inner {
    /// The catalog at start: the agent node and `extra_nodes`, each with a
    /// passing `serfHealth`, and the `consul` service on the agent node.
    pub(crate) fn bootstrap_catalog(&mut self, cfg: &DevServerConfig, id: &Identity) {
        self.catalog.agent_node = cfg.node_name.clone();
        self.catalog.datacenter = cfg.datacenter.clone();
        let names = std::iter::once(cfg.node_name.clone()).chain(cfg.extra_nodes.iter().cloned());
        for name in names {
            let idx = self.index.write();
            let node_id = if name == cfg.node_name {
                id.node_id.clone()
            } else {
                uuid::Uuid::new_v4().to_string()
            };
            let tagged = [("lan", &id.address), ("wan", &id.address)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect();
            let meta = [("consul-network-segment".to_owned(), String::new())].into();
            self.catalog.nodes.insert(
                name.clone(),
                NodeRecord {
                    id: node_id,
                    address: id.address.clone(),
                    tagged_addresses: Some(tagged),
                    meta: Some(meta),
                    origin: Origin::Builtin,
                    create_index: idx,
                    modify_index: idx,
                },
            );
            self.catalog.checks.insert(
                (name.clone(), SERF_CHECK.to_owned()),
                CheckRecord {
                    node: name.clone(),
                    id: SERF_CHECK.to_owned(),
                    name: "Serf Health Status".to_owned(),
                    status: HealthStatus::Passing,
                    notes: String::new(),
                    output: "Agent alive and reachable".to_owned(),
                    service_id: String::new(),
                    kind: CheckKind::Serf,
                    origin: Origin::Builtin,
                    ttl_deadline: None,
                    runner: None,
                    create_index: idx,
                    modify_index: idx,
                },
            );
            self.touch_nodes();
            self.touch_checks(&name, "");
            self.end_write();
        }
        let idx = self.index.write();
        self.catalog.services.insert(
            (cfg.node_name.clone(), "consul".to_owned()),
            ServiceRecord {
                id: "consul".to_owned(),
                name: "consul".to_owned(),
                tags: Vec::new(),
                address: String::new(),
                meta: None,
                port: id.server_port,
                enable_tag_override: false,
                origin: Origin::Builtin,
                create_index: idx,
                modify_index: idx,
            },
        );
        self.touch_service("consul");
        self.end_write();
    }

    /// Inserts (or replaces) a check row at `idx`, arming its TTL timer or
    /// returning its runner to spawn. A replaced row keeps its create index.
    /// A check written as critical invalidates the sessions bound to it, as
    /// Consul's state store does on every critical write.
    #[allow(clippy::too_many_arguments)]
    fn insert_check(
        &mut self,
        node: &str,
        spec: CheckSpec,
        origin: Origin,
        idx: u64,
        now: Instant,
        cfg: &DevServerConfig,
        spawns: &mut Vec<RunnerSpawn>,
    ) {
        let key = (node.to_owned(), spec.id.clone());
        let create_index = self
            .remove_check_row(&key)
            .map_or(idx, |old| old.create_index);
        let mut ttl_deadline = None;
        let mut runner = None;
        match &spec.kind {
            CheckKind::Ttl(ttl) => {
                let at = now + *ttl;
                ttl_deadline = Some(at);
                self.add_timer(at, TimerKey::Check(key.0.clone(), key.1.clone()));
            }
            CheckKind::Tcp { .. } | CheckKind::Http { .. } | CheckKind::Script { .. } => {
                let token = CancellationToken::new();
                runner = Some(token.clone());
                spawns.push(RunnerSpawn {
                    node: key.0.clone(),
                    check: spec.id.clone(),
                    kind: spec.kind.clone(),
                    token,
                });
            }
            CheckKind::Serf | CheckKind::Static => {}
        }
        let critical = spec.status.is_none_or(|s| s == HealthStatus::Critical);
        // Inserted checks move the checks table and their service's row.
        self.touch_checks(node, &spec.service_id);
        self.catalog.checks.insert(
            key.clone(),
            CheckRecord {
                node: node.to_owned(),
                id: spec.id,
                name: spec.name,
                status: spec.status.unwrap_or(HealthStatus::Critical),
                notes: spec.notes,
                output: status::truncate_output(&spec.output),
                service_id: spec.service_id,
                kind: spec.kind,
                origin,
                ttl_deadline,
                runner,
                create_index,
                modify_index: idx,
            },
        );
        if critical {
            self.invalidate_sessions_for_check(&key.0, &key.1, now, cfg);
        }
    }

    /// Removes a check row, cancelling its runner and timer; no session effects.
    fn remove_check_row(&mut self, key: &RowKey) -> Option<CheckRecord> {
        let old = self.catalog.checks.remove(key)?;
        if let Some(t) = &old.runner {
            t.cancel();
        }
        if let Some(at) = old.ttl_deadline {
            self.remove_timer(at, TimerKey::Check(key.0.clone(), key.1.clone()));
        }
        Some(old)
    }

    /// Removes a check (a catalog write) and invalidates the sessions bound
    /// to it. `false` if there was no such check.
    fn remove_check(&mut self, key: &RowKey, now: Instant, cfg: &DevServerConfig) -> bool {
        let Some(old) = self.remove_check_row(key) else {
            return false;
        };
        self.touch_checks(&key.0, &old.service_id);
        self.invalidate_sessions_for_check(&key.0, &key.1, now, cfg);
        true
    }

    /// Removes a service and its checks (one catalog write), invalidating
    /// sessions bound to those checks. `false` if there was no such service.
    fn remove_service(&mut self, key: &RowKey, now: Instant, cfg: &DevServerConfig) -> bool {
        let Some(old) = self.catalog.services.remove(key) else {
            return false;
        };
        self.touch_service(&old.name);
        let checks: Vec<RowKey> = range_of(&self.catalog.checks, &key.0)
            .filter(|(_, c)| c.service_id == key.1)
            .map(|(k, _)| k.clone())
            .collect();
        for c in checks {
            self.remove_check(&c, now, cfg);
        }
        self.forget_service_if_gone(&old.name);
        true
    }
}
