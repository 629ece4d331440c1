//! Wake-ups for blocking queries.
//!
//! A blocking query subscribes to exactly what it read: one KV key, one KV
//! prefix, the sessions table or the catalog. A write collects what it touched
//! in [`Pending`]; when the write ends (see `Locked::drop`) the hub wakes only
//! the matching subscribers, so a write to one key does not wake watchers of
//! other keys, and a thousand watchers of one key wake with one
//! `notify_waiters` call.
//!
//! Slots hold `Weak<Notify>`: a slot dies with its last subscriber and is
//! swept lazily, so no drop guard ever needs the state lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};

use tokio::sync::Notify;

/// What a write touched; flushed when the write ends.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) kv_keys: Vec<String>,
    pub(crate) sessions: bool,
    pub(crate) catalog: bool,
    pub(crate) events: bool,
    pub(crate) operator: bool,
    pub(crate) queries: bool,
    pub(crate) acls: bool,
}

impl Pending {
    pub(crate) fn kv(&mut self, key: &str) {
        self.kv_keys.push(key.to_owned());
    }
}

/// What a blocking query watches.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    KvKey(String),
    KvPrefix(String),
    Sessions,
    Catalog,
    /// The agent's user-event buffer.
    Events,
    /// Operator state: the autopilot configuration, coordinates.
    Operator,
    /// Prepared queries.
    Queries,
    /// ACL tokens.
    Acls,
}

/// Subscriptions, by target.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    keys: HashMap<String, Weak<Notify>>,
    prefixes: BTreeMap<String, Weak<Notify>>,
    sessions: Arc<Notify>,
    catalog: Arc<Notify>,
    events: Arc<Notify>,
    operator: Arc<Notify>,
    queries: Arc<Notify>,
    acls: Arc<Notify>,
    sweep_at: usize,
}

impl Hub {
    /// The `Notify` to wait on for `target`. Create the `notified` future
    /// before releasing the state lock so no write can slip in between.
    pub(crate) fn subscribe(&mut self, target: &Target) -> Arc<Notify> {
        match target {
            Target::Sessions => self.sessions.clone(),
            Target::Catalog => self.catalog.clone(),
            Target::Events => self.events.clone(),
            Target::Operator => self.operator.clone(),
            Target::Queries => self.queries.clone(),
            Target::Acls => self.acls.clone(),
            Target::KvKey(k) => {
                if let Some(n) = self.keys.get(k).and_then(Weak::upgrade) {
                    return n;
                }
                self.maybe_sweep();
                let n = Arc::new(Notify::new());
                self.keys.insert(k.clone(), Arc::downgrade(&n));
                n
            }
            Target::KvPrefix(p) => {
                if let Some(n) = self.prefixes.get(p).and_then(Weak::upgrade) {
                    return n;
                }
                self.maybe_sweep();
                let n = Arc::new(Notify::new());
                self.prefixes.insert(p.clone(), Arc::downgrade(&n));
                n
            }
        }
    }

    fn maybe_sweep(&mut self) {
        let len = self.keys.len() + self.prefixes.len();
        if len >= self.sweep_at {
            self.keys.retain(|_, w| w.strong_count() > 0);
            self.prefixes.retain(|_, w| w.strong_count() > 0);
            self.sweep_at = (2 * (self.keys.len() + self.prefixes.len())).max(64);
        }
    }

    /// Wakes the subscribers of everything in `p`.
    pub(crate) fn notify(&mut self, p: Pending) {
        if p.sessions {
            self.sessions.notify_waiters();
        }
        if p.catalog {
            self.catalog.notify_waiters();
        }
        if p.events {
            self.events.notify_waiters();
        }
        if p.operator {
            self.operator.notify_waiters();
        }
        if p.queries {
            self.queries.notify_waiters();
        }
        if p.acls {
            self.acls.notify_waiters();
        }
        for key in &p.kv_keys {
            if let Some(n) = self.keys.get(key).and_then(Weak::upgrade) {
                n.notify_waiters();
            }
            if self.prefixes.is_empty() {
                continue;
            }
            // Either scan every prefix watcher or look up every prefix of the
            // key, whichever is cheaper.
            if self.prefixes.len() <= key.len() + 1 {
                for (prefix, w) in &self.prefixes {
                    if key.starts_with(prefix.as_str())
                        && let Some(n) = w.upgrade()
                    {
                        n.notify_waiters();
                    }
                }
            } else {
                let ends = key
                    .char_indices()
                    .map(|(i, _)| i)
                    .chain(std::iter::once(key.len()));
                for end in ends {
                    if let Some(n) = self.prefixes.get(&key[..end]).and_then(Weak::upgrade) {
                        n.notify_waiters();
                    }
                }
            }
        }
    }

    /// Live subscription slots (for the state dump).
    pub(crate) fn live_slots(&self) -> usize {
        self.keys
            .values()
            .chain(self.prefixes.values())
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}
