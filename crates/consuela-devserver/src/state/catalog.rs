//! The catalog: nodes, agent services and health checks.
//!
//! The agent and the catalog are one thing here: a registration on the agent
//! is in the catalog at once (real Consul syncs within milliseconds).

use std::collections::BTreeMap;
use std::time::Duration;

use consuela_wire::{
    AgentCheck, AgentService, CatalogNode, CheckId, HealthStatus, Index, NodeName, ServiceId,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Identity, Inner, TimerKey};
use crate::config::DevServerConfig;

/// The check id of every node's gossip health check.
pub(crate) const SERF_CHECK: &str = "serfHealth";
/// Output size limit of checks (Consul's `BufSize`).
const OUTPUT_MAX: usize = 4096;

#[derive(Debug, Clone)]
pub(crate) struct NodeRecord {
    pub(crate) id: String,
    pub(crate) address: String,
    pub(crate) create_index: u64,
    pub(crate) modify_index: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct ServiceRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) tags: Vec<String>,
    pub(crate) address: String,
    pub(crate) meta: Option<BTreeMap<String, String>>,
    pub(crate) port: u16,
    pub(crate) enable_tag_override: bool,
    /// The built-in `consul` service: in the catalog, not in `agent/services`.
    pub(crate) builtin: bool,
    pub(crate) create_index: u64,
    pub(crate) modify_index: u64,
}

/// How a check gets its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CheckKind {
    /// `serfHealth`: always passing on a single node.
    Serf,
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
    pub(crate) ttl_deadline: Option<Instant>,
    /// Cancels the TCP/HTTP runner of this registration.
    pub(crate) runner: Option<CancellationToken>,
    pub(crate) create_index: u64,
    pub(crate) modify_index: u64,
}

/// Nodes, services (all on the agent node) and checks keyed by (node, id).
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub(crate) agent_node: String,
    pub(crate) datacenter: String,
    pub(crate) nodes: BTreeMap<String, NodeRecord>,
    pub(crate) services: BTreeMap<String, ServiceRecord>,
    pub(crate) checks: BTreeMap<(String, String), CheckRecord>,
}

/// A check to register (decoded and validated by the HTTP layer).
#[derive(Debug, Clone)]
pub(crate) struct CheckSpec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: Option<HealthStatus>,
    pub(crate) notes: String,
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
    pub(crate) meta: BTreeMap<String, String>,
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

fn truncate_output(s: &str) -> String {
    if s.len() <= OUTPUT_MAX {
        return s.to_owned();
    }
    let mut end = OUTPUT_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{} ... (captured {} of {} bytes)",
        &s[..end],
        OUTPUT_MAX,
        s.len()
    )
}

impl Catalog {
    pub(crate) fn node_wire(&self, name: &str, n: &NodeRecord) -> CatalogNode {
        CatalogNode {
            id: n.id.clone(),
            node: NodeName(name.to_owned()),
            address: n.address.clone(),
            datacenter: self.datacenter.clone(),
            tagged_addresses: [
                ("lan".to_owned(), n.address.clone()),
                ("wan".to_owned(), n.address.clone()),
            ]
            .into_iter()
            .collect(),
            meta: [("consul-network-segment".to_owned(), String::new())]
                .into_iter()
                .collect(),
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
        let svc = self
            .services
            .get(&c.service_id)
            .filter(|_| !c.service_id.is_empty());
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

    /// Checks of `node`: node checks first, then service checks, each by id.
    pub(crate) fn node_checks<'a>(
        &'a self,
        node: &'a str,
    ) -> impl Iterator<Item = &'a CheckRecord> + 'a {
        let all = self
            .checks
            .range((node.to_owned(), String::new())..)
            .take_while(move |((n, _), _)| n == node);
        let (node_level, svc): (Vec<_>, Vec<_>) =
            all.map(|(_, c)| c).partition(|c| c.service_id.is_empty());
        node_level.into_iter().chain(svc)
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
            self.catalog.nodes.insert(
                name.clone(),
                NodeRecord {
                    id: node_id,
                    address: id.address.clone(),
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
                    ttl_deadline: None,
                    runner: None,
                    create_index: idx,
                    modify_index: idx,
                },
            );
            self.index.catalog = idx;
            self.end_write();
        }
        let idx = self.index.write();
        self.catalog.services.insert(
            "consul".to_owned(),
            ServiceRecord {
                id: "consul".to_owned(),
                name: "consul".to_owned(),
                tags: Vec::new(),
                address: String::new(),
                meta: None,
                port: id.server_port,
                enable_tag_override: false,
                builtin: true,
                create_index: idx,
                modify_index: idx,
            },
        );
        self.index.catalog = idx;
        self.end_write();
    }

    /// `X-Consul-Index` of catalog and health reads.
    pub(crate) fn catalog_index(&self) -> u64 {
        self.index.catalog.max(1)
    }

    fn insert_check(
        &mut self,
        spec: CheckSpec,
        idx: u64,
        now: Instant,
        spawns: &mut Vec<RunnerSpawn>,
    ) {
        let node = self.catalog.agent_node.clone();
        let key = (node.clone(), spec.id.clone());
        let create_index = self
            .remove_check_row(&key)
            .map_or(idx, |old| old.create_index);
        let mut ttl_deadline = None;
        let mut runner = None;
        match &spec.kind {
            CheckKind::Ttl(ttl) => {
                let at = now + *ttl;
                ttl_deadline = Some(at);
                self.add_timer(at, TimerKey::Check(node.clone(), spec.id.clone()));
            }
            CheckKind::Tcp { .. } | CheckKind::Http { .. } => {
                let token = CancellationToken::new();
                runner = Some(token.clone());
                spawns.push(RunnerSpawn {
                    node: node.clone(),
                    check: spec.id.clone(),
                    kind: spec.kind.clone(),
                    token,
                });
            }
            CheckKind::Serf => {}
        }
        self.catalog.checks.insert(
            key,
            CheckRecord {
                node,
                id: spec.id,
                name: spec.name,
                status: spec.status.unwrap_or(HealthStatus::Critical),
                notes: spec.notes,
                output: String::new(),
                service_id: spec.service_id,
                kind: spec.kind,
                ttl_deadline,
                runner,
                create_index,
                modify_index: idx,
            },
        );
    }

    /// Removes a check row, cancelling its runner and timer; no session effects.
    fn remove_check_row(&mut self, key: &(String, String)) -> Option<CheckRecord> {
        let old = self.catalog.checks.remove(key)?;
        if let Some(t) = &old.runner {
            t.cancel();
        }
        if let Some(at) = old.ttl_deadline {
            self.remove_timer(at, TimerKey::Check(key.0.clone(), key.1.clone()));
        }
        Some(old)
    }

    /// `PUT /v1/agent/service/register`.
    pub(crate) fn register_service(
        &mut self,
        spec: ServiceSpec,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> Vec<RunnerSpawn> {
        let idx = self.index.write();
        let mut spawns = Vec::new();
        let create_index = self
            .catalog
            .services
            .get(&spec.id)
            .map_or(idx, |s| s.create_index);
        let new_ids: Vec<String> = spec.checks.iter().map(|c| c.id.clone()).collect();
        self.catalog.services.insert(
            spec.id.clone(),
            ServiceRecord {
                id: spec.id.clone(),
                name: spec.name,
                tags: spec.tags,
                address: spec.address,
                meta: Some(spec.meta),
                port: spec.port,
                enable_tag_override: spec.enable_tag_override,
                builtin: false,
                create_index,
                modify_index: idx,
            },
        );
        if spec.replace_existing_checks {
            let node = self.catalog.agent_node.clone();
            let stale: Vec<String> = self
                .catalog
                .checks
                .values()
                .filter(|c| c.node == node && c.service_id == spec.id && !new_ids.contains(&c.id))
                .map(|c| c.id.clone())
                .collect();
            for c in stale {
                self.deregister_check(&c, now, cfg);
            }
        }
        for c in spec.checks {
            self.insert_check(c, idx, now, &mut spawns);
        }
        self.index.catalog = idx;
        self.pending.catalog = true;
        spawns
    }

    /// `PUT /v1/agent/service/deregister/:id`: removes the service and its
    /// checks, invalidating sessions bound to them. Unknown ids are a no-op.
    pub(crate) fn deregister_service(&mut self, id: &str, now: Instant, cfg: &DevServerConfig) {
        if self.catalog.services.get(id).is_none_or(|s| s.builtin) {
            return;
        }
        let idx = self.index.write();
        self.catalog.services.remove(id);
        let node = self.catalog.agent_node.clone();
        let checks: Vec<String> = self
            .catalog
            .checks
            .values()
            .filter(|c| c.node == node && c.service_id == id)
            .map(|c| c.id.clone())
            .collect();
        for c in checks {
            self.deregister_check(&c, now, cfg);
        }
        self.index.catalog = idx;
        self.pending.catalog = true;
    }

    /// `PUT /v1/agent/check/register`. Err is a 500 text.
    pub(crate) fn register_check(
        &mut self,
        spec: CheckSpec,
        now: Instant,
    ) -> Result<Vec<RunnerSpawn>, String> {
        if !spec.service_id.is_empty() && !self.catalog.services.contains_key(&spec.service_id) {
            return Err(format!(
                "ServiceID {} does not exist",
                crate::gostr::go_quote(&spec.service_id)
            ));
        }
        let idx = self.index.write();
        let mut spawns = Vec::new();
        self.insert_check(spec, idx, now, &mut spawns);
        self.index.catalog = idx;
        self.pending.catalog = true;
        Ok(spawns)
    }

    /// `PUT /v1/agent/check/deregister/:id` (agent node). Unknown ids are a no-op.
    pub(crate) fn deregister_check(&mut self, id: &str, now: Instant, cfg: &DevServerConfig) {
        let key = (self.catalog.agent_node.clone(), id.to_owned());
        if key.1 == SERF_CHECK || self.remove_check_row(&key).is_none() {
            return;
        }
        let idx = self.index.write();
        self.index.catalog = idx;
        self.pending.catalog = true;
        self.invalidate_sessions_for_check(&key.0, id, now, cfg);
    }

    /// Sets a check's status and output. A status change is a catalog write
    /// (and, to critical, invalidates bound sessions in the same write); an
    /// output-only change is not, as Consul syncs those lazily.
    pub(crate) fn set_check_status(
        &mut self,
        node: &str,
        id: &str,
        status: HealthStatus,
        output: &str,
        now: Instant,
        cfg: &DevServerConfig,
    ) {
        let Some(c) = self
            .catalog
            .checks
            .get_mut(&(node.to_owned(), id.to_owned()))
        else {
            return;
        };
        c.output = truncate_output(output);
        if c.status == status {
            return;
        }
        c.status = status;
        let idx = self.index.write();
        if let Some(c) = self
            .catalog
            .checks
            .get_mut(&(node.to_owned(), id.to_owned()))
        {
            c.modify_index = idx;
        }
        self.index.catalog = idx;
        self.pending.catalog = true;
        if matches!(status, HealthStatus::Critical | HealthStatus::Maintenance) {
            self.invalidate_sessions_for_check(node, id, now, cfg);
        }
    }

    /// pass/warn/fail/update of a TTL check: sets the status and re-arms the
    /// TTL. Err is Consul's 500 text for unknown and non-TTL checks.
    pub(crate) fn update_ttl_check(
        &mut self,
        id: &str,
        status: HealthStatus,
        output: &str,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> Result<(), String> {
        let node = self.catalog.agent_node.clone();
        let key = (node.clone(), id.to_owned());
        let (ttl, old) = match self.catalog.checks.get(&key) {
            Some(CheckRecord {
                kind: CheckKind::Ttl(ttl),
                ttl_deadline,
                ..
            }) => (*ttl, *ttl_deadline),
            _ => {
                return Err(format!(
                    "CheckID {} does not have associated TTL",
                    crate::gostr::go_quote(id)
                ));
            }
        };
        if let Some(at) = old {
            self.remove_timer(at, TimerKey::Check(node.clone(), id.to_owned()));
        }
        let at = now + ttl;
        self.add_timer(at, TimerKey::Check(node.clone(), id.to_owned()));
        if let Some(c) = self.catalog.checks.get_mut(&key) {
            c.ttl_deadline = Some(at);
        }
        self.set_check_status(&node, id, status, output, now, cfg);
        Ok(())
    }

    /// A TTL check's timer fired.
    pub(crate) fn check_ttl_expired(
        &mut self,
        node: &str,
        id: &str,
        at: Instant,
        now: Instant,
        cfg: &DevServerConfig,
    ) {
        let key = (node.to_owned(), id.to_owned());
        let Some(c) = self.catalog.checks.get_mut(&key) else {
            return;
        };
        if c.ttl_deadline != Some(at) {
            return;
        }
        c.ttl_deadline = None;
        let output = if c.output.is_empty() {
            "TTL expired".to_owned()
        } else {
            format!(
                "TTL expired (last output before timeout follows): {}",
                c.output
            )
        };
        self.set_check_status(node, id, HealthStatus::Critical, &output, now, cfg);
    }
}
