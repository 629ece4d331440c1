//! KV operations, single or in a transaction.
//!
//! Every KV write, HTTP or `/v1/txn`, runs here: ops execute in order against
//! an overlay on top of the table, later ops see earlier ops' writes, every
//! failing op is reported, and the overlay is applied (at one index) only if
//! none failed. That is Consul's rollback semantics with no undo log.

use std::collections::BTreeMap;

use bytes::Bytes;
use consuela_wire::{KvEntry, KvVerb};
use tokio::time::Instant;

use super::Inner;
use super::kv::{KvRecord, prefixed};
use super::session::{IdError, canonical_id_checked};
use crate::gostr::go_quote;

/// One KV operation, in server form.
#[derive(Debug, Clone)]
pub(crate) struct KvOp {
    pub(crate) verb: KvVerb,
    pub(crate) key: String,
    pub(crate) value: Option<Bytes>,
    pub(crate) flags: u64,
    pub(crate) index: u64,
    /// The session as sent (may be empty or malformed).
    pub(crate) session: String,
}

impl KvOp {
    pub(crate) fn new(verb: KvVerb, key: impl Into<String>) -> Self {
        Self {
            verb,
            key: key.into(),
            value: None,
            flags: 0,
            index: 0,
            session: String::new(),
        }
    }
}

/// Why an op failed. HTTP maps some of these to `false`; txn to `What` texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpError {
    CasFailed,
    LockHeld,
    LockDelay,
    UnlockFailed,
    DeleteCasFailed,
    MissingSession,
    BadSessionId(String),
    InvalidSession(String),
    NotFound,
    Exists,
    IndexCheck { current: u64, wanted: u64 },
    IndexCheckMissing,
    SessionCheck { current: String, wanted: String },
    SessionCheckMissing,
    UnknownVerb,
    MissingKey,
}

impl OpError {
    /// Consul's text for this failure of `op` (txn `Errors[].What`, HTTP 500 body).
    pub(crate) fn what(&self, op: &KvOp) -> String {
        let k = go_quote(&op.key);
        match self {
            Self::CasFailed => format!("failed to set key {k}, index is stale"),
            Self::LockHeld => format!("failed to lock key {k}, lock is already held"),
            Self::LockDelay => format!("failed to lock key {k} due to lock delay"),
            Self::UnlockFailed => {
                format!("failed to unlock key {k}, lock isn't held, or is held by another session")
            }
            Self::DeleteCasFailed => format!("failed to delete key {k}, index is stale"),
            Self::MissingSession => "missing session".to_owned(),
            Self::BadSessionId(m) => format!("failed session lookup: index error: {m}"),
            Self::InvalidSession(s) => format!("invalid session {}", go_quote(s)),
            Self::NotFound => format!("key {k} doesn't exist"),
            Self::Exists => format!("key {k} exists"),
            Self::IndexCheck { current, wanted } => {
                format!(
                    "failed index check for key {k}, current modify index {current} != {wanted}"
                )
            }
            Self::IndexCheckMissing => format!("failed to check index, key {k} doesn't exist"),
            Self::SessionCheck { current, wanted } => format!(
                "failed session check for key {k}, current session {} != {}",
                go_quote(current),
                go_quote(wanted)
            ),
            Self::SessionCheckMissing => format!("failed to check session, key {k} doesn't exist"),
            Self::UnknownVerb => format!("unknown KV verb {}", go_quote(op.verb.as_str())),
            Self::MissingKey => "Must provide key".to_owned(),
        }
    }
}

/// The table as seen by a running transaction.
struct View<'a> {
    inner: &'a Inner,
    overlay: BTreeMap<String, Option<KvRecord>>,
    /// Keys written by this txn: deleting one later in the same txn still
    /// leaves a tombstone, as Consul's graveyard does.
    written: std::collections::BTreeSet<String>,
    idx: u64,
}

impl View<'_> {
    fn get(&self, key: &str) -> Option<&KvRecord> {
        match self.overlay.get(key) {
            Some(o) => o.as_ref(),
            None => self.inner.kv.entries.get(key),
        }
    }

    fn range(&self, prefix: &str) -> Vec<(String, KvRecord)> {
        let mut m: BTreeMap<String, KvRecord> = prefixed(&self.inner.kv.entries, prefix)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in prefixed(&self.overlay, prefix) {
            match v {
                Some(r) => {
                    m.insert(k.clone(), r.clone());
                }
                None => {
                    m.remove(k);
                }
            }
        }
        m.into_iter().collect()
    }

    /// Writes unless nothing would change; returns the resulting record.
    fn put(&mut self, key: &str, rec: KvRecord) -> KvRecord {
        if let Some(old) = self.get(key)
            && old.same_content(&rec)
        {
            return old.clone();
        }
        self.overlay.insert(key.to_owned(), Some(rec.clone()));
        self.written.insert(key.to_owned());
        rec
    }

    fn del(&mut self, key: &str) {
        if self.get(key).is_some() {
            self.overlay.insert(key.to_owned(), None);
        }
    }

    /// A new record for `key` carrying `value`/`flags`, keeping indexes.
    fn record(
        &self,
        key: &str,
        op: &KvOp,
        lock_index: u64,
        session: Option<consuela_wire::SessionId>,
    ) -> KvRecord {
        let create_index = self.get(key).map_or(self.idx, |e| e.create_index);
        KvRecord {
            value: op.value.clone().filter(|v| !v.is_empty()),
            flags: op.flags,
            lock_index,
            session,
            create_index,
            modify_index: self.idx,
        }
    }

    fn apply(&mut self, op: &KvOp, now: Instant, out: &mut Vec<KvEntry>) -> Result<(), OpError> {
        let key = op.key.as_str();
        match &op.verb {
            KvVerb::Set => {
                // A plain set keeps the holder but, as in Consul 1.0.8, stores
                // the request's LockIndex, which is 0.
                let session = self.get(key).and_then(|e| e.session.clone());
                let rec = self.record(key, op, 0, session);
                let rec = self.put(key, rec);
                out.push(rec.to_wire(key, false));
            }
            KvVerb::Cas => {
                let ok = match self.get(key) {
                    None => op.index == 0,
                    Some(e) => op.index != 0 && e.modify_index == op.index,
                };
                if !ok {
                    return Err(OpError::CasFailed);
                }
                let session = self.get(key).and_then(|e| e.session.clone());
                let rec = self.record(key, op, 0, session);
                let rec = self.put(key, rec);
                out.push(rec.to_wire(key, false));
            }
            KvVerb::Lock => {
                if self.inner.kv.lock_delayed(key, now) {
                    return Err(OpError::LockDelay);
                }
                let id = self.inner.session_for_lock(&op.session)?;
                let rec = match self.get(key) {
                    Some(e) if e.session.as_ref() == Some(&id) => {
                        self.record(key, op, e.lock_index, Some(id))
                    }
                    Some(e) if e.session.is_some() => return Err(OpError::LockHeld),
                    Some(e) => self.record(key, op, e.lock_index + 1, Some(id)),
                    None => self.record(key, op, 1, Some(id)),
                };
                let rec = self.put(key, rec);
                out.push(rec.to_wire(key, false));
            }
            KvVerb::Unlock => {
                if op.session.is_empty() {
                    return Err(OpError::MissingSession);
                }
                let held_by_caller =
                    self.get(key)
                        .and_then(|e| e.session.as_ref())
                        .is_some_and(|s| {
                            s.as_str() == op.session
                                || canonical_id_checked(&op.session).ok().as_ref() == Some(s)
                        });
                if !held_by_caller {
                    return Err(OpError::UnlockFailed);
                }
                let lock_index = self.get(key).map_or(0, |e| e.lock_index);
                let rec = self.record(key, op, lock_index, None);
                let rec = self.put(key, rec);
                out.push(rec.to_wire(key, false));
            }
            KvVerb::Get | KvVerb::GetOrEmpty => match self.get(key) {
                Some(e) => out.push(e.to_wire(key, true)),
                None if op.verb == KvVerb::GetOrEmpty => {
                    out.push(KvEntry {
                        key: key.to_owned(),
                        ..KvEntry::default()
                    });
                }
                None => return Err(OpError::NotFound),
            },
            KvVerb::GetTree => {
                for (k, e) in self.range(key) {
                    out.push(e.to_wire(&k, true));
                }
            }
            KvVerb::CheckIndex => match self.get(key) {
                None => return Err(OpError::IndexCheckMissing),
                Some(e) if e.modify_index != op.index => {
                    return Err(OpError::IndexCheck {
                        current: e.modify_index,
                        wanted: op.index,
                    });
                }
                Some(e) => out.push(e.to_wire(key, false)),
            },
            KvVerb::CheckSession => match self.get(key) {
                None => return Err(OpError::SessionCheckMissing),
                Some(e) => {
                    let current = e.session.as_ref().map_or("", |s| s.as_str());
                    if current != op.session {
                        return Err(OpError::SessionCheck {
                            current: current.to_owned(),
                            wanted: op.session.clone(),
                        });
                    }
                    out.push(e.to_wire(key, false));
                }
            },
            KvVerb::CheckNotExists => {
                if self.get(key).is_some() {
                    return Err(OpError::Exists);
                }
            }
            KvVerb::Delete => self.del(key),
            KvVerb::DeleteCas => match self.get(key) {
                None => {}
                Some(e) if e.modify_index != op.index => return Err(OpError::DeleteCasFailed),
                Some(_) => self.del(key),
            },
            KvVerb::DeleteTree => {
                for (k, _) in self.range(key) {
                    self.overlay.insert(k, None);
                }
            }
            KvVerb::Unknown(_) => return Err(OpError::UnknownVerb),
        }
        Ok(())
    }
}

/// The outcome of [`Inner::kv_txn`].
#[derive(Debug)]
pub(crate) enum TxnOutcome {
    /// Applied (or read-only); result entries in op order.
    Applied(Vec<KvEntry>),
    /// Rolled back; `(op index, error)` for every failing op.
    Failed(Vec<(usize, OpError)>),
}

impl Inner {
    /// Resolves the session of a `lock`: empty, malformed and unknown ids fail
    /// with Consul's errors; the result is the canonical id.
    pub(crate) fn session_for_lock(&self, raw: &str) -> Result<consuela_wire::SessionId, OpError> {
        if raw.is_empty() {
            return Err(OpError::MissingSession);
        }
        let id = canonical_id_checked(raw).map_err(|e| match e {
            IdError(m) => OpError::BadSessionId(m),
        })?;
        if self.sessions.by_id.contains_key(&id) {
            Ok(id)
        } else {
            Err(OpError::InvalidSession(raw.to_owned()))
        }
    }

    /// Runs `ops` atomically: all apply at one new index, or none does.
    pub(crate) fn kv_txn(&mut self, ops: &[KvOp], now: Instant) -> TxnOutcome {
        // Consul's `kvsPreApply`, before anything runs: every op but
        // delete-tree needs a key, and a lock inside a lock-delay window
        // fails. Any failure here answers alone, without running the ops.
        let prechecked: Vec<(usize, OpError)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| {
                if op.key.is_empty() && op.verb != KvVerb::DeleteTree {
                    Some((i, OpError::MissingKey))
                } else if op.verb == KvVerb::Lock && self.kv.lock_delayed(&op.key, now) {
                    Some((i, OpError::LockDelay))
                } else {
                    None
                }
            })
            .collect();
        if !prechecked.is_empty() {
            return TxnOutcome::Failed(prechecked);
        }
        let idx = self.index.peek_write();
        let mut view = View {
            inner: self,
            overlay: BTreeMap::new(),
            written: Default::default(),
            idx,
        };
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if let Err(e) = view.apply(op, now, &mut results) {
                errors.push((i, e));
            }
        }
        if !errors.is_empty() {
            return TxnOutcome::Failed(errors);
        }
        let View {
            overlay, written, ..
        } = view;
        if !overlay.is_empty() {
            let idx = self.index.write();
            for (key, rec) in overlay {
                match rec {
                    Some(rec) => self.kv_store(&key, rec),
                    None if self.kv.entries.contains_key(&key) => self.kv_remove(&key),
                    None if written.contains(&key) => {
                        self.kv.bury(&key, idx);
                        self.index.kvs = idx;
                        self.pending.kv(&key);
                    }
                    None => {}
                }
            }
        }
        TxnOutcome::Applied(results)
    }

    /// One KV op, as the HTTP KV endpoint runs it.
    pub(crate) fn kv_op(&mut self, op: KvOp, now: Instant) -> Result<Vec<KvEntry>, OpError> {
        match self.kv_txn(std::slice::from_ref(&op), now) {
            TxnOutcome::Applied(r) => Ok(r),
            TxnOutcome::Failed(mut e) => Err(e.pop().map_or(OpError::UnknownVerb, |(_, e)| e)),
        }
    }
}
