//! `GET /_dev/state` and the invariant checker used by the property tests.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::faults::Faults;
use super::{Inner, TimerKey};

impl Inner {
    /// The whole state as JSON (values as lossy UTF-8 text, for humans).
    pub(crate) fn dump(&self, now: Instant, faults: &Faults) -> Value {
        let kv: serde_json::Map<String, Value> = self
            .kv
            .entries
            .iter()
            .map(|(k, e)| {
                (
                    k.clone(),
                    json!({
                        "Value": e.value.as_ref().map(|v| String::from_utf8_lossy(v).into_owned()),
                        "Flags": e.flags,
                        "LockIndex": e.lock_index,
                        "Session": e.session,
                        "CreateIndex": e.create_index,
                        "ModifyIndex": e.modify_index,
                    }),
                )
            })
            .collect();
        let lock_delays: serde_json::Map<String, Value> = self
            .kv
            .lock_delays
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(k, until)| (k.clone(), json!(until.duration_since(now).as_millis())))
            .collect();
        let sessions: Vec<Value> = self
            .sessions
            .by_id
            .values()
            .map(|s| {
                json!({
                    "Session": s.entry,
                    "ExpiresInMs": s.deadline.map(|d| d.saturating_duration_since(now).as_millis()),
                    "Held": s.held,
                })
            })
            .collect();
        let checks: Vec<Value> = self
            .catalog
            .checks
            .values()
            .map(|c| json!(self.catalog.check_wire(c, true)))
            .collect();
        let services: Vec<Value> = self
            .catalog
            .services
            .values()
            .map(|s| json!(super::catalog::Catalog::service_wire(s, true)))
            .collect();
        json!({
            "Index": self.index.last(),
            "TableIndexes": {"kvs": self.index.kvs, "sessions": self.index.sessions, "catalog": self.index.catalog},
            "KV": kv,
            "Tombstones": self.kv.tombstones,
            "LockDelaysMs": lock_delays,
            "Sessions": sessions,
            "Services": services,
            "Checks": checks,
            "Nodes": self.catalog.nodes.keys().collect::<Vec<_>>(),
            "TtlPaused": self.ttl_paused,
            "WatchSlots": self.watch.live_slots(),
            "Faults": {
                "NoLeader": faults.no_leader.load(std::sync::atomic::Ordering::Relaxed),
                "LatencyMs": faults.latency_ms.load(std::sync::atomic::Ordering::Relaxed),
            },
        })
    }

    /// Every broken invariant, as text (empty when all hold).
    pub(crate) fn check_invariants(&self) -> Vec<String> {
        let mut bad = Vec::new();
        let last = self.index.last();
        for (k, e) in &self.kv.entries {
            if e.create_index == 0
                || e.create_index > e.modify_index
                || e.modify_index > self.index.kvs
            {
                bad.push(format!(
                    "key {k:?}: indexes {}/{} vs table {}",
                    e.create_index, e.modify_index, self.index.kvs
                ));
            }
            if e.value.as_ref().is_some_and(|v| v.is_empty()) {
                bad.push(format!("key {k:?}: empty value stored as Some"));
            }
            if let Some(s) = &e.session {
                match self.sessions.by_id.get(s) {
                    None => bad.push(format!("key {k:?} locked by missing session {s}")),
                    Some(rec) if !rec.held.contains(k) => {
                        bad.push(format!("key {k:?} not in held set of {s}"))
                    }
                    Some(_) => {}
                }
            }
            if self.kv.tombstones.contains_key(k) {
                bad.push(format!("key {k:?} is both live and deleted"));
            }
        }
        for (k, i) in &self.kv.tombstones {
            if *i > self.index.kvs {
                bad.push(format!("tombstone {k:?} at {i} > table {}", self.index.kvs));
            }
        }
        for (id, s) in &self.sessions.by_id {
            if s.entry.create_index.0 > self.index.sessions || s.entry.create_index.0 > last {
                bad.push(format!("session {id} index beyond table"));
            }
            for k in &s.held {
                if self.kv.entries.get(k).and_then(|e| e.session.as_ref()) != Some(id) {
                    bad.push(format!("session {id} holds {k:?} but the key disagrees"));
                }
            }
            if let Some(at) = s.deadline
                && !self.timers.contains(&(at, TimerKey::Session(id.clone())))
            {
                bad.push(format!("session {id} has a deadline but no timer"));
            }
            if !self.catalog.nodes.contains_key(s.entry.node.as_str()) {
                bad.push(format!("session {id} on unknown node"));
            }
        }
        let c = &self.catalog;
        for (node, id) in c.services.keys() {
            if !c.nodes.contains_key(node) {
                bad.push(format!("service {id} on unknown node {node}"));
            }
        }
        for ((node, id), chk) in &c.checks {
            if !c.nodes.contains_key(node) {
                bad.push(format!("check {id} on unknown node {node}"));
            }
            if !chk.service_id.is_empty() && c.service_of(chk).is_none() {
                bad.push(format!("check {id} of unknown service {}", chk.service_id));
            }
        }
        for t in [self.index.kvs, self.index.sessions, self.index.catalog] {
            if t > last {
                bad.push(format!("table index {t} beyond last {last}"));
            }
        }
        bad
    }
}
