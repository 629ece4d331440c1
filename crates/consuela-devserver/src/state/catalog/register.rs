//! `PUT /v1/catalog/register` and `/v1/catalog/deregister`: external nodes,
//! their services and checks, applied all or nothing as one Raft entry.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::rows::{RowKey, range_of};
use super::{CheckSpec, NodeRecord, Origin, ServiceRecord, ServiceSpec};
use crate::config::DevServerConfig;
use crate::gostr::go_quote;
use crate::state::Inner;

/// The node part of a registration.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeSpec {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) address: String,
    pub(crate) tagged_addresses: Option<BTreeMap<String, String>>,
    pub(crate) meta: Option<BTreeMap<String, String>>,
}

/// A decoded `structs.RegisterRequest` (the HTTP layer did the decoding and
/// the RPC's defaulting: service id from its name, check ids from names,
/// check nodes from the request's node).
#[derive(Debug, Clone, Default)]
pub(crate) struct CatalogRegistration {
    pub(crate) node: NodeSpec,
    pub(crate) skip_node_update: bool,
    pub(crate) service: Option<ServiceSpec>,
    /// `Check` and `Checks`, each with its node.
    pub(crate) checks: Vec<(String, CheckSpec)>,
}

/// A decoded `structs.DeregisterRequest`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CatalogDeregistration {
    pub(crate) node: String,
    pub(crate) service_id: String,
    pub(crate) check_id: String,
}

/// memdb's error for a row whose id index field is empty.
const MISSING_PRIMARY: &str = "object missing primary index";
/// Consul's metadata limits (`structs.ValidateMetadata`).
const META_MAX_PAIRS: usize = 64;
const META_KEY_MAX: usize = 128;
const META_VALUE_MAX: usize = 512;

/// go-uuid's `ParseUUID`: 36 characters, dashes at 8, 13, 18 and 23, hex
/// elsewhere.
fn parse_uuid(s: &str) -> Result<(), String> {
    if s.len() != 36 {
        return Err("uuid string is wrong length".to_owned());
    }
    let b = s.as_bytes();
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return Err("uuid is improperly formatted".to_owned());
    }
    for (i, c) in s.char_indices() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        if !c.is_ascii_hexdigit() {
            return Err(format!("encoding/hex: invalid byte: {}", go_rune(c)));
        }
    }
    Ok(())
}

/// Go's `%#U` of a rune, as `encoding/hex` prints an invalid byte.
fn go_rune(c: char) -> String {
    format!("U+{:04X} '{c}'", u32::from(c))
}

/// `structs.ValidateMetadata(meta, false)`.
fn validate_metadata(meta: Option<&BTreeMap<String, String>>) -> Result<(), String> {
    let Some(meta) = meta else {
        return Ok(());
    };
    if meta.len() > META_MAX_PAIRS {
        return Err(format!(
            "Node metadata cannot contain more than {META_MAX_PAIRS} key/value pairs"
        ));
    }
    for (k, v) in meta {
        let problem = if k.is_empty() {
            Some("Key cannot be blank".to_owned())
        } else if !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Some("Key contains invalid characters".to_owned())
        } else if k.len() > META_KEY_MAX {
            Some(format!(
                "Key is too long (limit: {META_KEY_MAX} characters)"
            ))
        } else if k.starts_with("consul-") {
            Some("Key prefix 'consul-' is reserved for internal use".to_owned())
        } else if v.len() > META_VALUE_MAX {
            Some(format!(
                "Value is too long (limit: {META_VALUE_MAX} characters)"
            ))
        } else {
            None
        };
        if let Some(p) = problem {
            return Err(format!("Couldn't load metadata pair ('{k}', '{v}'): {p}"));
        }
    }
    Ok(())
}

impl Inner {
    /// Applies a catalog registration. `Err` is Consul's 500 text; on error
    /// nothing changes (the whole request is one transaction).
    pub(crate) fn catalog_register(
        &mut self,
        reg: CatalogRegistration,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> Result<(), String> {
        self.validate_registration(&reg)?;
        let name = reg.node.name.clone();
        if !reg.skip_node_update {
            self.ensure_node(reg.node);
        }
        if let Some(svc) = reg.service {
            self.ensure_service(&name, svc);
        }
        for (_, check) in reg.checks {
            self.ensure_check(&name, check, now, cfg);
        }
        Ok(())
    }

    /// The RPC's and the state store's checks, in their order.
    fn validate_registration(&self, reg: &CatalogRegistration) -> Result<(), String> {
        let node = &reg.node;
        if node.name.is_empty() {
            return Err("Must provide node".to_owned());
        }
        if node.address.is_empty() && !reg.skip_node_update {
            return Err("Must provide address if SkipNodeUpdate is not set".to_owned());
        }
        if !node.id.is_empty() {
            parse_uuid(&node.id).map_err(|e| format!("Bad node ID: {e}"))?;
        }
        if let Some(svc) = &reg.service {
            if !svc.id.is_empty() && svc.name.is_empty() {
                return Err("Must provide service name with ID".to_owned());
            }
            if matches!(svc.address.as_str(), "0.0.0.0" | "::" | "[::]") {
                return Err("Invalid service address".to_owned());
            }
        }
        // The state store, in one transaction: node, service, checks.
        if !reg.skip_node_update && !node.id.is_empty() {
            let alias = self
                .catalog
                .nodes
                .iter()
                .find(|(name, n)| **name != node.name && n.id.eq_ignore_ascii_case(&node.id));
            if let Some((other, _)) = alias {
                return Err(format!(
                    "failed inserting node: node ID {} for node {} aliases existing node {}",
                    go_quote(&node.id),
                    go_quote(&node.name),
                    go_quote(other)
                ));
            }
        }
        let node_known = !reg.skip_node_update || self.catalog.nodes.contains_key(&node.name);
        if let Some(svc) = &reg.service {
            if let Err(e) = validate_metadata(svc.meta.as_ref()) {
                return Err(format!(
                    "failed inserting service: Invalid Service Meta for node {} and serviceID {}: {e}",
                    node.name, svc.id
                ));
            }
            if !node_known {
                return Err("failed inserting service: Missing node registration".to_owned());
            }
            if svc.id.is_empty() {
                return Err(format!(
                    "failed inserting service: failed inserting service: {MISSING_PRIMARY}"
                ));
            }
        }
        for (check_node, check) in &reg.checks {
            if *check_node != node.name {
                return Err(format!(
                    "check node {} does not match node {}",
                    go_quote(check_node),
                    go_quote(&node.name)
                ));
            }
            if !node_known {
                return Err("failed inserting check: Missing node registration".to_owned());
            }
            if !check.service_id.is_empty() {
                let registered = reg
                    .service
                    .as_ref()
                    .is_some_and(|s| s.id == check.service_id);
                let existing = self
                    .catalog
                    .services
                    .contains_key(&(node.name.clone(), check.service_id.clone()));
                if !registered && !existing {
                    return Err("failed inserting check: Missing service registration".to_owned());
                }
            }
            if check.id.is_empty() {
                return Err(format!(
                    "failed inserting check: failed inserting check: {MISSING_PRIMARY}"
                ));
            }
        }
        Ok(())
    }

    fn ensure_node(&mut self, spec: NodeSpec) {
        let existing = self.catalog.nodes.get(&spec.name);
        let origin = existing.map_or(Origin::Catalog, |n| n.origin);
        // The agent's own node keeps its id when a registration leaves it out.
        let id = match existing {
            Some(n) if spec.id.is_empty() => n.id.clone(),
            _ => spec.id,
        };
        let unchanged = existing.is_some_and(|n| {
            n.id == id
                && n.address == spec.address
                && n.tagged_addresses == spec.tagged_addresses
                && n.meta == spec.meta
        });
        if unchanged {
            return;
        }
        let create_index = existing.map(|n| n.create_index);
        let idx = self.touch_nodes();
        self.catalog.nodes.insert(
            spec.name,
            NodeRecord {
                id,
                address: spec.address,
                tagged_addresses: spec.tagged_addresses,
                meta: spec.meta,
                origin,
                create_index: create_index.unwrap_or(idx),
                modify_index: idx,
            },
        );
    }

    fn ensure_service(&mut self, node: &str, spec: ServiceSpec) {
        let key = (node.to_owned(), spec.id.clone());
        let existing = self.catalog.services.get(&key);
        let origin = match existing.map(|s| s.origin) {
            Some(o @ (Origin::Agent | Origin::Builtin)) => o,
            _ => Origin::Catalog,
        };
        let mut row = ServiceRecord::new(spec, origin);
        if let Some(old) = existing {
            row.create_index = old.create_index;
            row.modify_index = old.modify_index;
            if *old == row {
                return;
            }
        }
        let idx = self.touch_service(&row.name);
        if row.create_index == 0 {
            row.create_index = idx;
        }
        row.modify_index = idx;
        self.catalog.services.insert(key, row);
    }

    fn ensure_check(&mut self, node: &str, spec: CheckSpec, now: Instant, cfg: &DevServerConfig) {
        let key = (node.to_owned(), spec.id.clone());
        let origin = match self.catalog.checks.get(&key).map(|c| c.origin) {
            Some(o @ (Origin::Agent | Origin::Builtin)) => o,
            _ => Origin::Catalog,
        };
        let idx = self.touch_checks(node, &spec.service_id);
        let mut spawns = Vec::new();
        self.insert_check(node, spec, origin, idx, now, cfg, &mut spawns);
        debug_assert!(spawns.is_empty(), "catalog checks have no runners");
    }

    /// Applies a catalog deregistration: a check, a service (with its
    /// checks) or a whole node (with its services, checks and sessions).
    /// Unknown ones are no-ops. `Err` is Consul's 500 text.
    ///
    /// The agent's own entries (its node, services and checks) come back at
    /// once, as Consul's anti-entropy restores them; the sessions that the
    /// removal invalidates stay invalidated.
    pub(crate) fn catalog_deregister(
        &mut self,
        req: &CatalogDeregistration,
        now: Instant,
        cfg: &DevServerConfig,
    ) -> Result<(), String> {
        if req.node.is_empty() {
            return Err("Must provide node".to_owned());
        }
        // Consul's FSM: a service id wins over a check id.
        let node = req.node.clone();
        if !req.service_id.is_empty() {
            self.deregister_catalog_service(&(node, req.service_id.clone()), now, cfg);
        } else if !req.check_id.is_empty() {
            self.deregister_catalog_check(&(node, req.check_id.clone()), now, cfg);
        } else {
            self.deregister_catalog_node(&node, now, cfg);
        }
        Ok(())
    }

    fn deregister_catalog_check(&mut self, key: &RowKey, now: Instant, cfg: &DevServerConfig) {
        match self.catalog.checks.get(key).map(|c| c.origin) {
            None => {}
            Some(Origin::Catalog) => {
                self.remove_check(key, now, cfg);
            }
            Some(Origin::Agent | Origin::Builtin) => {
                self.touch_checks(&key.0, "");
                self.invalidate_sessions_for_check(&key.0, &key.1, now, cfg);
            }
        }
    }

    fn deregister_catalog_service(&mut self, key: &RowKey, now: Instant, cfg: &DevServerConfig) {
        match self.catalog.services.get(key).map(|s| s.origin) {
            None => {}
            Some(Origin::Catalog) => {
                self.remove_service(key, now, cfg);
            }
            Some(Origin::Agent | Origin::Builtin) => {
                self.touch_checks(&key.0, &key.1);
                let checks: Vec<RowKey> = range_of(&self.catalog.checks, &key.0)
                    .filter(|(_, c)| c.service_id == key.1)
                    .map(|(k, _)| k.clone())
                    .collect();
                for c in checks {
                    self.invalidate_sessions_for_check(&c.0, &c.1, now, cfg);
                }
            }
        }
    }

    fn deregister_catalog_node(&mut self, node: &str, now: Instant, cfg: &DevServerConfig) {
        let Some(origin) = self.catalog.nodes.get(node).map(|n| n.origin) else {
            return;
        };
        self.touch_nodes();
        let services: Vec<RowKey> = range_of(&self.catalog.services, node)
            .filter(|(_, s)| s.origin == Origin::Catalog)
            .map(|(k, _)| k.clone())
            .collect();
        for s in services {
            self.remove_service(&s, now, cfg);
        }
        let checks: Vec<RowKey> = range_of(&self.catalog.checks, node)
            .filter(|(_, c)| c.origin == Origin::Catalog)
            .map(|(k, _)| k.clone())
            .collect();
        for c in checks {
            self.remove_check(&c, now, cfg);
        }
        self.invalidate_sessions_on_node(node, now, cfg);
        if origin == Origin::Catalog {
            self.catalog.nodes.remove(node);
            self.remove_coordinates(node);
        }
    }
}
