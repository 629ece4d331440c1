//! The agent's own registrations: services, checks and maintenance mode.

use consuela_wire::HealthStatus;
use tokio::time::Instant;

use super::{CheckKind, CheckSpec, Origin, RunnerSpawn, ServiceRecord, ServiceSpec};
use crate::config::DevServerConfig;
use crate::state::Inner;

/// The check id of node maintenance mode.
const NODE_MAINTENANCE: &str = "_node_maintenance";
/// The check id prefix of service maintenance mode.
const SERVICE_MAINTENANCE_PREFIX: &str = "_service_maintenance:";

const NODE_MAINTENANCE_DEFAULT: &str = "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.";
const SERVICE_MAINTENANCE_DEFAULT: &str = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";

impl Inner {
    /// `PUT /v1/agent/service/register`.
    pub(crate) fn register_service(
        &mut self,
        mut spec: ServiceSpec,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> Vec<RunnerSpawn> {
        let node = self.catalog.agent_node.clone();
        let key = (node.clone(), spec.id.clone());
        let idx = self.touch_service(&spec.name);
        let mut spawns = Vec::new();
        let create_index = self
            .catalog
            .services
            .get(&key)
            .map_or(idx, |s| s.create_index);
        let new_ids: Vec<String> = spec.checks.iter().map(|c| c.id.clone()).collect();
        let (checks, replace) = (
            std::mem::take(&mut spec.checks),
            spec.replace_existing_checks,
        );
        let service_id = spec.id.clone();
        let mut row = ServiceRecord::new(spec, Origin::Agent);
        row.create_index = create_index;
        row.modify_index = idx;
        self.catalog.services.insert(key, row);
        if replace {
            let stale: Vec<String> = self
                .catalog
                .agent_checks()
                .filter(|c| c.service_id == service_id && !new_ids.contains(&c.id))
                .map(|c| c.id.clone())
                .collect();
            for c in stale {
                self.deregister_check(&c, now, cfg);
            }
        }
        for c in checks {
            self.insert_check(&node, c, Origin::Agent, idx, now, cfg, &mut spawns);
        }
        spawns
    }

    /// `PUT /v1/agent/service/deregister/:id`: removes the service and its
    /// checks, invalidating sessions bound to them. Unknown ids are a no-op.
    pub(crate) fn deregister_service(&mut self, id: &str, now: Instant, cfg: &DevServerConfig) {
        if self.catalog.agent_service(id).is_none() {
            return;
        }
        let key = (self.catalog.agent_node.clone(), id.to_owned());
        self.remove_service(&key, now, cfg);
    }

    /// `PUT /v1/agent/check/register`. Err is a 500 text.
    pub(crate) fn register_check(
        &mut self,
        spec: CheckSpec,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> Result<Vec<RunnerSpawn>, String> {
        if !spec.service_id.is_empty() && self.catalog.agent_service(&spec.service_id).is_none() {
            return Err(format!(
                "ServiceID {} does not exist",
                crate::gostr::go_quote(&spec.service_id)
            ));
        }
        let node = self.catalog.agent_node.clone();
        let idx = self.touch_checks(&node, &spec.service_id);
        let mut spawns = Vec::new();
        self.insert_check(&node, spec, Origin::Agent, idx, now, cfg, &mut spawns);
        Ok(spawns)
    }

    /// `PUT /v1/agent/check/deregister/:id` (agent node). Unknown ids are a no-op.
    pub(crate) fn deregister_check(&mut self, id: &str, now: Instant, cfg: &DevServerConfig) {
        let key = (self.catalog.agent_node.clone(), id.to_owned());
        if self
            .catalog
            .checks
            .get(&key)
            .is_some_and(|c| c.origin == Origin::Agent)
        {
            self.remove_check(&key, now, cfg);
        }
    }

    /// `PUT /v1/agent/maintenance?enable=true`: adds the critical
    /// `_node_maintenance` check. Already enabled: nothing changes (the first
    /// reason stays), as in Consul.
    pub(crate) fn enable_node_maintenance(
        &mut self,
        reason: &str,
        now: Instant,
        cfg: &DevServerConfig,
    ) {
        let check = Maintenance {
            id: NODE_MAINTENANCE.to_owned(),
            name: "Node Maintenance Mode",
            default_reason: NODE_MAINTENANCE_DEFAULT,
            service_id: String::new(),
        };
        self.enable_maintenance(check, reason, now, cfg);
    }

    /// `PUT /v1/agent/maintenance?enable=false`.
    pub(crate) fn disable_node_maintenance(&mut self, now: Instant, cfg: &DevServerConfig) {
        self.deregister_check(NODE_MAINTENANCE, now, cfg);
    }

    /// `PUT /v1/agent/service/maintenance/:id?enable=true`. `false` if the
    /// agent has no such service.
    pub(crate) fn enable_service_maintenance(
        &mut self,
        id: &str,
        reason: &str,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> bool {
        if self.catalog.agent_service(id).is_none() {
            return false;
        }
        let check = Maintenance {
            id: format!("{SERVICE_MAINTENANCE_PREFIX}{id}"),
            name: "Service Maintenance Mode",
            default_reason: SERVICE_MAINTENANCE_DEFAULT,
            service_id: id.to_owned(),
        };
        self.enable_maintenance(check, reason, now, cfg);
        true
    }

    /// `PUT /v1/agent/service/maintenance/:id?enable=false`. `false` if the
    /// agent has no such service.
    pub(crate) fn disable_service_maintenance(
        &mut self,
        id: &str,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> bool {
        if self.catalog.agent_service(id).is_none() {
            return false;
        }
        self.deregister_check(&format!("{SERVICE_MAINTENANCE_PREFIX}{id}"), now, cfg);
        true
    }

    fn enable_maintenance(
        &mut self,
        check: Maintenance,
        reason: &str,
        now: Instant,
        cfg: &DevServerConfig,
    ) {
        let node = self.catalog.agent_node.clone();
        if self
            .catalog
            .checks
            .contains_key(&(node.clone(), check.id.clone()))
        {
            return;
        }
        let notes = if reason.is_empty() {
            check.default_reason
        } else {
            reason
        };
        let spec = CheckSpec {
            id: check.id,
            name: check.name.to_owned(),
            status: Some(HealthStatus::Critical),
            notes: notes.to_owned(),
            output: String::new(),
            service_id: check.service_id,
            kind: CheckKind::Static,
        };
        let idx = self.touch_checks(&node, &spec.service_id);
        let mut spawns = Vec::new();
        self.insert_check(&node, spec, Origin::Agent, idx, now, cfg, &mut spawns);
    }
}

/// The critical check that stands for a maintenance mode.
struct Maintenance {
    id: String,
    name: &'static str,
    default_reason: &'static str,
    service_id: String,
}
