//! The KV table: live entries, tombstones and lock-delay records, plus the
//! primitives that keep them consistent with the sessions table.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Bound;
use std::time::Duration;

use bytes::Bytes;
use consuela_wire::{Index, KvEntry, SessionId};
use tokio::time::Instant;

use super::Inner;

/// One stored entry. `session` is always a canonical (lowercase) session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KvRecord {
    pub(crate) value: Option<Bytes>,
    pub(crate) flags: u64,
    pub(crate) lock_index: u64,
    pub(crate) session: Option<SessionId>,
    pub(crate) create_index: u64,
    pub(crate) modify_index: u64,
}

impl KvRecord {
    /// The wire form; `with_value: false` gives `Value: null` (txn write results).
    pub(crate) fn to_wire(&self, key: &str, with_value: bool) -> KvEntry {
        KvEntry {
            lock_index: self.lock_index,
            key: key.to_owned(),
            flags: self.flags,
            value: if with_value {
                self.value.as_ref().map(|b| b.to_vec())
            } else {
                None
            },
            session: self.session.clone(),
            create_index: Index(self.create_index),
            modify_index: Index(self.modify_index),
        }
    }

    /// Whether a write of `other` over `self` changes nothing visible.
    pub(crate) fn same_content(&self, other: &Self) -> bool {
        self.value == other.value
            && self.flags == other.flags
            && self.lock_index == other.lock_index
            && self.session == other.session
    }
}

/// The KV table.
#[derive(Debug, Default)]
pub(crate) struct Kv {
    pub(crate) entries: BTreeMap<String, KvRecord>,
    /// Deleted keys and the index of their deletion, so that a prefix's index
    /// never goes backwards when its newest key is deleted (Consul's graveyard).
    /// A key that is written again loses its tombstone.
    pub(crate) tombstones: BTreeMap<String, u64>,
    /// Key → instant before which `acquire`/`lock` is refused.
    pub(crate) lock_delays: HashMap<String, Instant>,
    /// Tombstones in deletion order, for reaping after `tombstone_ttl`.
    reap_queue: VecDeque<(u64, String)>,
    /// `(when, last index)` samples: a tombstone at or below an index sampled
    /// `tombstone_ttl` ago is old enough to reap.
    reap_marks: VecDeque<(Instant, u64)>,
}

/// Entries of `map` whose key starts with `prefix`, in key order.
pub(crate) fn prefixed<'a, V>(
    map: &'a BTreeMap<String, V>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a V)> + 'a {
    map.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(move |(k, _)| k.starts_with(prefix))
}

impl Kv {
    /// Whether `key` is inside a lock-delay window.
    pub(crate) fn lock_delayed(&self, key: &str, now: Instant) -> bool {
        self.lock_delays.get(key).is_some_and(|until| now < *until)
    }

    /// Records a tombstone for `key` deleted at `idx`.
    pub(crate) fn bury(&mut self, key: &str, idx: u64) {
        self.tombstones.insert(key.to_owned(), idx);
        self.reap_queue.push_back((idx, key.to_owned()));
    }

    /// Drops tombstones older than `ttl` (a key re-created since has none).
    pub(crate) fn reap_tombstones(&mut self, now: Instant, last: u64, ttl: Duration) {
        if self
            .reap_marks
            .back()
            .is_none_or(|(t, _)| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.reap_marks.push_back((now, last));
        }
        let mut threshold = 0;
        while let Some((t, idx)) = self.reap_marks.front() {
            if now.duration_since(*t) < ttl {
                break;
            }
            threshold = *idx;
            self.reap_marks.pop_front();
        }
        while self
            .reap_queue
            .front()
            .is_some_and(|(idx, _)| *idx <= threshold)
        {
            if let Some((idx, key)) = self.reap_queue.pop_front()
                && self.tombstones.get(&key) == Some(&idx)
            {
                self.tombstones.remove(&key);
            }
        }
    }

    pub(crate) fn sweep_lock_delays(&mut self, now: Instant) {
        if !self.lock_delays.is_empty() {
            self.lock_delays.retain(|_, until| now < *until);
        }
    }

    /// `X-Consul-Index` of a prefix read: the newest entry or tombstone under
    /// the prefix; the table index for the empty prefix or when there is none.
    pub(crate) fn prefix_index(&self, prefix: &str, table: u64) -> u64 {
        if prefix.is_empty() {
            return table.max(1);
        }
        let live = prefixed(&self.entries, prefix)
            .map(|(_, e)| e.modify_index)
            .max()
            .unwrap_or(0);
        let dead = prefixed(&self.tombstones, prefix)
            .map(|(_, i)| *i)
            .max()
            .unwrap_or(0);
        match live.max(dead) {
            0 => table.max(1),
            n => n,
        }
    }
}

impl Inner {
    /// `X-Consul-Index` of the KV table (live keys and tombstones), at least 1.
    pub(crate) fn kv_table_index(&self) -> u64 {
        self.index.kvs.max(1)
    }

    /// Stores `rec` under `key` at the current write index, keeping the
    /// sessions' held-key sets and the tombstones consistent.
    pub(crate) fn kv_store(&mut self, key: &str, rec: KvRecord) {
        let idx = self.index.write();
        let old_session = self.kv.entries.get(key).and_then(|e| e.session.clone());
        if old_session != rec.session {
            if let Some(s) = &old_session
                && let Some(sess) = self.sessions.by_id.get_mut(s)
            {
                sess.held.remove(key);
            }
            if let Some(s) = &rec.session
                && let Some(sess) = self.sessions.by_id.get_mut(s)
            {
                sess.held.insert(key.to_owned());
            }
        }
        self.kv.tombstones.remove(key);
        self.kv.entries.insert(key.to_owned(), rec);
        self.index.kvs = idx;
        self.pending.kv(key);
    }

    /// Deletes `key` (if present) at the current write index, leaving a tombstone.
    pub(crate) fn kv_remove(&mut self, key: &str) {
        let Some(old) = self.kv.entries.remove(key) else {
            return;
        };
        let idx = self.index.write();
        if let Some(s) = &old.session
            && let Some(sess) = self.sessions.by_id.get_mut(s)
        {
            sess.held.remove(key);
        }
        self.kv.bury(key, idx);
        self.index.kvs = idx;
        self.pending.kv(key);
    }
}

#[cfg(test)]
mod tests;
