//! Operator state: the autopilot configuration (a Raft entry of its own)
//! and network coordinates.

use std::collections::BTreeMap;
use std::time::Duration;

use consuela_wire::Coord;

use super::Inner;

/// `structs.AutopilotConfig`, with Consul's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Autopilot {
    pub(crate) cleanup_dead_servers: bool,
    pub(crate) last_contact_threshold: Duration,
    pub(crate) max_trailing_logs: u64,
    pub(crate) server_stabilization_time: Duration,
    pub(crate) redundancy_zone_tag: String,
    pub(crate) disable_upgrade_migration: bool,
    pub(crate) upgrade_version_tag: String,
    pub(crate) create_index: u64,
    pub(crate) modify_index: u64,
}

impl Default for Autopilot {
    fn default() -> Self {
        Self {
            cleanup_dead_servers: true,
            last_contact_threshold: Duration::from_millis(200),
            max_trailing_logs: 250,
            server_stabilization_time: Duration::from_secs(10),
            redundancy_zone_tag: String::new(),
            disable_upgrade_migration: false,
            upgrade_version_tag: String::new(),
            create_index: 0,
            modify_index: 0,
        }
    }
}

/// Operator tables.
#[derive(Debug, Default)]
pub(crate) struct Operator {
    pub(crate) autopilot: Autopilot,
    /// (node, segment) → coordinate.
    pub(crate) coordinates: BTreeMap<(String, String), Coord>,
    /// Last write to the coordinates table.
    pub(crate) coordinates_index: u64,
}

impl Inner {
    /// Writes the leader's initial autopilot configuration, as a new Consul
    /// leader does, and gives every agent node its starting coordinate.
    pub(crate) fn bootstrap_operator(&mut self, nodes: &[String]) {
        let idx = self.index.write();
        self.operator.autopilot.create_index = idx;
        self.operator.autopilot.modify_index = idx;
        for n in nodes {
            self.operator
                .coordinates
                .insert((n.clone(), String::new()), Coord::default());
        }
        self.operator.coordinates_index = idx;
        self.end_write();
    }

    /// `PUT /v1/operator/autopilot/configuration[?cas=]`: replaces the whole
    /// configuration; with `cas`, only if it is still at that index.
    pub(crate) fn set_autopilot(&mut self, mut config: Autopilot, cas: Option<u64>) -> bool {
        if cas.is_some_and(|c| c != self.operator.autopilot.modify_index) {
            return false;
        }
        let idx = self.index.write();
        config.create_index = self.operator.autopilot.create_index;
        config.modify_index = idx;
        self.operator.autopilot = config;
        self.pending.operator = true;
        true
    }

    /// `PUT /v1/coordinate/update`: stores a node's coordinate.
    pub(crate) fn set_coordinate(&mut self, node: &str, segment: &str, coord: Coord) {
        let idx = self.index.write();
        self.operator
            .coordinates
            .insert((node.to_owned(), segment.to_owned()), coord);
        self.operator.coordinates_index = idx;
        self.pending.operator = true;
    }

    /// Drops a node's coordinates (its catalog entry is gone).
    pub(crate) fn remove_coordinates(&mut self, node: &str) {
        let before = self.operator.coordinates.len();
        self.operator.coordinates.retain(|(n, _), _| n != node);
        if self.operator.coordinates.len() != before {
            self.operator.coordinates_index = self.index.write();
            self.pending.operator = true;
        }
    }
}
