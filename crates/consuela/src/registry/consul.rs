//! The registry's Consul requests: the only place that talks to the client.

use consuela_client::api::txn;
use consuela_client::{Client, DeleteOptions, TxnFailure, TxnOutcome};
use consuela_wire::{Index, KvEntry, SessionId};

use crate::error::{Error, ErrorKind};

/// Our session plus the client, and the verbs the registry needs.
#[derive(Debug, Clone)]
pub(crate) struct Consul {
    pub(crate) client: Client,
    pub(crate) session: SessionId,
}

/// How an acquisition ended, when Consul answered definitely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// We hold the key; its `ModifyIndex` is the fencing token.
    Held { fencing_token: u64 },
    /// Another session holds it.
    Taken,
    /// Consul's lock-delay blocks it.
    LockDelay,
    /// Our session no longer exists.
    SessionGone,
    /// Consul refused for another reason (the text of `Errors[0].What`).
    Refused(String),
}

impl Consul {
    /// Acquires `key` with one `/v1/txn` `lock` op, which (unlike
    /// `PUT ?acquire`) answers with the key's new `ModifyIndex`.
    pub(crate) async fn acquire(&self, key: &str, value: Vec<u8>) -> Result<Acquired, Error> {
        let op = txn::lock(key, value, &self.session);
        match self
            .client
            .txn()
            .execute(&[op])
            .await
            .map_err(from_client)?
        {
            TxnOutcome::Committed(results) => results
                .into_iter()
                .find_map(|r| r.kv)
                .map(|kv| Acquired::Held {
                    fencing_token: kv.modify_index.0,
                })
                .ok_or_else(|| Error::new(ErrorKind::Rejected)),
            TxnOutcome::RolledBack(errors) => {
                let what = errors
                    .into_iter()
                    .next()
                    .map(|e| e.what)
                    .unwrap_or_default();
                Ok(match TxnFailure::classify(&what) {
                    TxnFailure::LockHeld => Acquired::Taken,
                    TxnFailure::LockDelay => Acquired::LockDelay,
                    TxnFailure::InvalidSession => Acquired::SessionGone,
                    _ => Acquired::Refused(what),
                })
            }
        }
    }

    /// Deletes `key` if its `ModifyIndex` is still `index`: `false` means
    /// someone (even we) re-acquired it since.
    pub(crate) async fn delete_if(&self, key: &str, index: u64) -> Result<bool, Error> {
        self.client
            .kv()
            .delete(
                key,
                DeleteOptions {
                    cas: Some(Index(index)),
                    ..DeleteOptions::default()
                },
            )
            .await
            .map_err(from_client)
    }

    /// Whether `entry` is locked by our session.
    pub(crate) fn is_ours(&self, entry: &KvEntry) -> bool {
        entry.session.as_ref() == Some(&self.session)
    }
}

/// Maps a client error onto the registry's kinds by its outcome class.
pub(crate) fn from_client(e: consuela_client::Error) -> Error {
    use consuela_client::Outcome;
    let kind = match e.outcome() {
        Outcome::Failed => ErrorKind::Unavailable,
        Outcome::Unknown => ErrorKind::Unknown,
        Outcome::Done => ErrorKind::Rejected,
    };
    Error::with_source(kind, e)
}
