//! The catalog's table indexes, as Consul 1.0.8 keeps them: `nodes`,
//! `services`, `checks`, and one `service.<name>` row per service name, so
//! a read reports (and a blocking query waits for) only what it reads.

use std::collections::BTreeMap;

use crate::state::Inner;

/// Last write to each catalog table.
#[derive(Debug, Default)]
pub(crate) struct CatalogIndexes {
    pub(crate) nodes: u64,
    pub(crate) services: u64,
    pub(crate) checks: u64,
    /// `service.<name>`: the last write to any instance of the service or
    /// its checks; dropped with the last instance.
    pub(crate) by_service: BTreeMap<String, u64>,
}

impl Inner {
    /// The index of the current write, marked as a catalog change.
    fn catalog_write(&mut self) -> u64 {
        let idx = self.index.write();
        self.index.catalog = idx;
        self.pending.catalog = true;
        idx
    }

    /// A node row changed.
    pub(crate) fn touch_nodes(&mut self) -> u64 {
        let idx = self.catalog_write();
        self.catalog.indexes.nodes = idx;
        idx
    }

    /// An instance of service `name` changed.
    pub(crate) fn touch_service(&mut self, name: &str) -> u64 {
        let idx = self.catalog_write();
        self.catalog.indexes.services = idx;
        self.catalog.indexes.by_service.insert(name.to_owned(), idx);
        idx
    }

    /// A check on `node` changed: its service's row moves too, and a node
    /// check moves every service on the node.
    pub(crate) fn touch_checks(&mut self, node: &str, service_id: &str) -> u64 {
        let idx = self.catalog_write();
        self.catalog.indexes.checks = idx;
        let names: Vec<String> = self
            .catalog
            .node_services(node)
            .filter(|s| service_id.is_empty() || s.id == service_id)
            .map(|s| s.name.clone())
            .collect();
        for name in names {
            self.catalog.indexes.by_service.insert(name, idx);
        }
        idx
    }

    /// Drops `service.<name>` once no instance of the service is left.
    pub(crate) fn forget_service_if_gone(&mut self, name: &str) {
        if self.catalog.instances(name, None).next().is_none() {
            self.catalog.indexes.by_service.remove(name);
        }
    }

    /// `catalog/nodes`.
    pub(crate) fn nodes_index(&self) -> u64 {
        self.catalog.indexes.nodes
    }

    /// `catalog/services`.
    pub(crate) fn services_index(&self) -> u64 {
        self.catalog.indexes.services
    }

    /// `health/node`, `health/checks`, `health/state`.
    pub(crate) fn checks_index(&self) -> u64 {
        self.catalog.indexes.checks
    }

    /// `catalog/node/:node`: nodes and services.
    pub(crate) fn node_index(&self) -> u64 {
        let i = &self.catalog.indexes;
        i.nodes.max(i.services)
    }

    /// `catalog/service/:name`: its row, else nodes and services.
    pub(crate) fn catalog_service_index(&self, name: &str) -> u64 {
        self.catalog
            .indexes
            .by_service
            .get(name)
            .copied()
            .unwrap_or_else(|| self.node_index())
    }

    /// `health/service/:name`: its row, else nodes, services and checks.
    pub(crate) fn health_service_index(&self, name: &str) -> u64 {
        let i = &self.catalog.indexes;
        i.by_service
            .get(name)
            .copied()
            .unwrap_or_else(|| i.nodes.max(i.services).max(i.checks))
    }
}
