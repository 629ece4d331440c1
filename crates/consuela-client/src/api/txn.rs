//! Transactions: `PUT /v1/txn`, plus constructors for KV operations.
//!
//! A rolled-back transaction (409) is a normal answer, returned as
//! [`TxnOutcome::RolledBack`] with every failing operation's text, not as an error.
//!
//! ```
//! use consuela_client::api::txn;
//! use consuela_client::wire::SessionId;
//!
//! let session = SessionId::new("6b5e6e2c-8a4e-4f3c-9a55-0c0e1f3d2a11");
//! let ops = [txn::lock("registry/web-1", b"owner".to_vec(), &session)];
//! assert_eq!(ops[0].kv.as_ref().unwrap().verb.as_str(), "lock");
//! ```

use consuela_wire::{
    Index, KvEntry, KvTxnOp, KvVerb, SessionId, TxnError, TxnOp, TxnResponse, TxnResult,
};

use crate::client::{Call, Client};
use crate::error::{Error, ErrorKind};

/// The answer of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Every operation applied atomically (200). Results appear in operation order, but only for
    /// operations that produce one (deletes and `check-not-exists` do not; `get-tree` produces
    /// many), so `results[i]` need not belong to operation `i`.
    Committed(Vec<TxnResult>),
    /// Nothing was applied (409). Every failing operation is listed.
    RolledBack(Vec<TxnError>),
}

impl TxnOutcome {
    /// Whether the transaction was applied.
    pub fn is_committed(&self) -> bool {
        matches!(&self, Self::Committed(_))
    }

    /// The KV entries of a committed transaction, in result order.
    pub fn entries(&self) -> impl Iterator<Item = &KvEntry> {
        let results: &[TxnResult] = match self {
            Self::Committed(results) => results,
            Self::RolledBack(_) => &[],
        };
        results.iter().filter_map(|result| result.kv.as_ref())
    }

    /// The errors of a rolled-back transaction (empty when committed).
    pub fn errors(&self) -> &[TxnError] {
        match self {
            Self::Committed(_) => &[],
            Self::RolledBack(errors) => errors,
        }
    }

    /// The classified failure of operation `op_index`, if it failed.
    pub fn failure_of(&self, op_index: usize) -> Option<TxnFailure> {
        self.errors()
            .iter()
            .find(|error| error.op_index == op_index)
            .map(|error| TxnFailure::classify(&error.what))
    }
}

/// A rolled-back operation's `What` text, classified by the stable substrings Consul uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TxnFailure {
    /// `lock is already held`: another session holds the key.
    LockHeld,
    /// `due to lock delay`: the key is in a lock-delay window; retry after it.
    LockDelay,
    /// `invalid session` / `missing session`: the session does not exist.
    InvalidSession,
    /// `lock isn't held`: unlock by a non-holder.
    NotHeld,
    /// `index is stale` / `failed index check`: a compare-and-set lost.
    IndexMismatch,
    /// `failed session check`: the key is not held by the given session.
    SessionMismatch,
    /// `doesn't exist`: a read or check of a missing key.
    KeyMissing,
    /// `exists`: `check-not-exists` on an existing key.
    KeyExists,
    /// Anything else (`unknown KV verb`, permission errors, …).
    Other,
}

impl TxnFailure {
    /// Classifies a `What` text.
    pub fn classify(what: &str) -> Self {
        if what.contains("lock is already held") {
            Self::LockHeld
        } else if what.contains("due to lock delay") {
            Self::LockDelay
        } else if what.contains("invalid session") || what.contains("missing session") {
            Self::InvalidSession
        } else if what.contains("lock isn't held") {
            Self::NotHeld
        } else if what.contains("index is stale") || what.contains("failed index check") {
            Self::IndexMismatch
        } else if what.contains("failed session check") {
            Self::SessionMismatch
        } else if what.contains("doesn't exist") {
            Self::KeyMissing
        } else if what.ends_with("exists") {
            Self::KeyExists
        } else {
            Self::Other
        }
    }
}

/// Transaction endpoint. Obtain with [`Client::txn`].
#[derive(Debug, Clone, Copy)]
pub struct Txn<'a> {
    client: &'a Client,
}

impl<'a> Txn<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    /// Executes `ops` atomically (`PUT /v1/txn`).
    ///
    /// Written keys come back with their new `ModifyIndex`: a one-op [`lock`] transaction
    /// acquires a key and learns its fencing token in one round trip.
    /// Consul accepts at most 64 operations (128 since 1.14); larger requests fail with
    /// [`ErrorKind::BadRequest`] (413).
    ///
    /// # Errors
    ///
    /// A 409 is `Ok(TxnOutcome::RolledBack(..))`. Errors are 400/413 ([`ErrorKind::BadRequest`]),
    /// 403, 500 (e.g. `No cluster leader`) and transport errors.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request; the transaction may or may not have been
    /// applied (atomically: all or nothing).
    pub async fn execute(self, ops: &[TxnOp]) -> Result<TxnOutcome, Error> {
        let call = Call::put("/v1/txn".to_owned()).json(ops)?;
        let response = self.client.send(call, &[409]).await?;
        let body: TxnResponse = response.json()?;
        if response.status().as_u16() == 409 {
            let errors = body.errors.unwrap_or_default();
            if errors.is_empty() {
                return Err(Error::new(ErrorKind::Conflict)
                    .with_status(response.status())
                    .with_message("transaction rolled back without errors"));
            }
            Ok(TxnOutcome::RolledBack(errors))
        } else {
            Ok(TxnOutcome::Committed(body.results.unwrap_or_default()))
        }
    }
}

fn op(verb: KvVerb, key: &str) -> KvTxnOp {
    KvTxnOp {
        verb,
        key: key.to_owned(),
        ..KvTxnOp::default()
    }
}

fn value(bytes: Vec<u8>) -> Option<Vec<u8>> {
    // Consul stores an empty value as nil either way.
    if bytes.is_empty() { None } else { Some(bytes) }
}

/// `set`: write `key` unconditionally.
pub fn set(key: &str, data: Vec<u8>, flags: u64) -> TxnOp {
    KvTxnOp {
        value: value(data),
        flags,
        ..op(KvVerb::Set, key)
    }
    .into()
}

/// `cas`: write `key` if its `ModifyIndex` equals `index` (`Index(0)`: if missing).
pub fn cas(key: &str, data: Vec<u8>, flags: u64, index: Index) -> TxnOp {
    KvTxnOp {
        value: value(data),
        flags,
        index: index.0,
        ..op(KvVerb::Cas, key)
    }
    .into()
}

/// `lock`: acquire `key` for `session`, storing `data` (flags 0).
pub fn lock(key: &str, data: Vec<u8>, session: &SessionId) -> TxnOp {
    lock_with_flags(key, data, 0, session)
}

/// `lock` with explicit flags.
pub fn lock_with_flags(key: &str, data: Vec<u8>, flags: u64, session: &SessionId) -> TxnOp {
    KvTxnOp {
        value: value(data),
        flags,
        session: Some(session.clone()),
        ..op(KvVerb::Lock, key)
    }
    .into()
}

/// `unlock`: release `key` held by `session`, storing `data` (flags 0).
pub fn unlock(key: &str, data: Vec<u8>, session: &SessionId) -> TxnOp {
    KvTxnOp {
        value: value(data),
        session: Some(session.clone()),
        ..op(KvVerb::Unlock, key)
    }
    .into()
}

/// `get`: read `key` (the transaction fails if it is missing).
pub fn get(key: &str) -> TxnOp {
    op(KvVerb::Get, key).into()
}

/// `get-tree`: read every key under `prefix`.
pub fn get_tree(prefix: &str) -> TxnOp {
    op(KvVerb::GetTree, prefix).into()
}

/// `check-index`: fail unless `key`'s `ModifyIndex` equals `index`.
pub fn check_index(key: &str, index: Index) -> TxnOp {
    KvTxnOp {
        index: index.0,
        ..op(KvVerb::CheckIndex, key)
    }
    .into()
}

/// `check-session`: fail unless `key` is held by `session`.
pub fn check_session(key: &str, session: &SessionId) -> TxnOp {
    KvTxnOp {
        session: Some(session.clone()),
        ..op(KvVerb::CheckSession, key)
    }
    .into()
}

/// `check-not-exists`: fail if `key` exists.
pub fn check_not_exists(key: &str) -> TxnOp {
    op(KvVerb::CheckNotExists, key).into()
}

/// `delete`: delete `key` unconditionally.
pub fn delete(key: &str) -> TxnOp {
    op(KvVerb::Delete, key).into()
}

/// `delete-cas`: delete `key` if its `ModifyIndex` equals `index`.
pub fn delete_cas(key: &str, index: Index) -> TxnOp {
    KvTxnOp {
        index: index.0,
        ..op(KvVerb::DeleteCas, key)
    }
    .into()
}

/// `delete-tree`: delete every key under `prefix`.
pub fn delete_tree(prefix: &str) -> TxnOp {
    op(KvVerb::DeleteTree, prefix).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_substring() {
        let cases = [
            (
                "failed to lock key \"k\", lock is already held",
                TxnFailure::LockHeld,
            ),
            (
                "failed to lock key \"k\" due to lock delay",
                TxnFailure::LockDelay,
            ),
            ("invalid session \"x\"", TxnFailure::InvalidSession),
            ("missing session", TxnFailure::InvalidSession),
            (
                "failed to unlock key \"k\", lock isn't held, or is held by another session",
                TxnFailure::NotHeld,
            ),
            (
                "failed to set key \"k\", index is stale",
                TxnFailure::IndexMismatch,
            ),
            (
                "failed index check for key \"k\", current modify index 3 != 2",
                TxnFailure::IndexMismatch,
            ),
            (
                "failed session check for key \"k\", current session \"\" != \"s\"",
                TxnFailure::SessionMismatch,
            ),
            ("key \"k\" doesn't exist", TxnFailure::KeyMissing),
            ("key \"k\" exists", TxnFailure::KeyExists),
            ("unknown KV verb \"bogus\"", TxnFailure::Other),
        ];
        for (what, failure) in cases {
            assert_eq!(TxnFailure::classify(what), failure, "{what}");
        }
    }

    #[test]
    fn lock_op_serializes_like_consul_expects() {
        let session = SessionId::new("s-1");
        let json = serde_json::to_value([lock("a/b", b"v".to_vec(), &session)]).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"KV": {"Verb": "lock", "Key": "a/b", "Value": "dg==", "Session": "s-1"}}])
        );
        let json = serde_json::to_value(delete_cas("a", Index(7))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"KV": {"Verb": "delete-cas", "Key": "a", "Index": 7}})
        );
    }

    #[test]
    fn outcome_accessors() {
        let outcome = TxnOutcome::RolledBack(vec![TxnError {
            op_index: 1,
            what: "failed to lock key \"k\" due to lock delay".to_owned(),
        }]);
        assert!(!outcome.is_committed());
        assert_eq!(outcome.failure_of(1), Some(TxnFailure::LockDelay));
        assert_eq!(outcome.failure_of(0), None);
        assert_eq!(outcome.entries().count(), 0);
    }
}
