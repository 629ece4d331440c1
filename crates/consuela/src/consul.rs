//! The one Consul port: every KV and session request the registry makes.
//!
//! [`Consul`] holds the session-less reads (a [`Directory`](crate::Directory)
//! needs nothing else); [`Session`] adds the writes made under the member's
//! session. Presence and discovery talk to the agent and health endpoints
//! through the client directly: they are not part of the name protocol.

use std::time::Duration;

use consuela_client::api::txn;
use consuela_client::{Client, Consistency, QueryOptions, TxnFailure, Watch, WatchConfig};
use consuela_wire::{KvEntry, SessionEntry, SessionId, SessionRequest, parse_go_duration};

use crate::batch::{Answer, Batcher, Limits, OpKind};
use crate::error::{Error, ErrorKind, Refusal};
use crate::retry::NoLeaderBackoff;
use crate::token::FencingToken;

/// Session-less KV reads.
#[derive(Debug, Clone)]
pub(crate) struct Consul {
    client: Client,
}

impl Consul {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The entry under `key`, if any.
    pub(crate) async fn get(
        &self,
        key: &str,
        consistency: Consistency,
    ) -> Result<Option<KvEntry>, Error> {
        let opts = QueryOptions::new().with_consistency(consistency);
        Ok(self.client.kv().get(key, opts).await?.value)
    }

    /// Every entry under `prefix`.
    pub(crate) async fn list(
        &self,
        prefix: &str,
        consistency: Consistency,
    ) -> Result<Vec<KvEntry>, Error> {
        let opts = QueryOptions::new().with_consistency(consistency);
        Ok(self.client.kv().list(prefix, opts).await?.value)
    }

    /// Blocking queries on one key.
    pub(crate) fn watch_key(&self, key: &str, config: WatchConfig) -> Watch<Option<KvEntry>> {
        self.client.kv().watch(key, config)
    }

    /// Blocking queries on every key under `prefix`.
    pub(crate) fn watch_prefix(&self, prefix: &str, config: WatchConfig) -> Watch<Vec<KvEntry>> {
        self.client.kv().watch_prefix(prefix, config)
    }

    /// Creates a session whose writes are batched within `limits`. While
    /// Consul has no leader (an election: it refuses before creating
    /// anything) it tries again with a back-off for up to `wait`.
    pub(crate) async fn create_session(
        &self,
        request: &SessionRequest,
        limits: Limits,
        wait: Duration,
    ) -> Result<Session, Error> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut backoff = NoLeaderBackoff::new();
        let id = loop {
            let created = self.client.session().create(request).await;
            let now = tokio::time::Instant::now();
            let first = backoff.is_first();
            match (created, backoff.next_before(now, deadline)) {
                (Err(e), Some(pause)) if e.kind() == consuela_client::ErrorKind::NoLeader => {
                    if first {
                        tracing::warn!(
                            gives_up_in = ?deadline.saturating_duration_since(now),
                            "Consul has no leader; waiting to create the session"
                        );
                    }
                    tokio::time::sleep(pause).await;
                }
                (created, _) => break created?,
            }
        };
        Ok(Session {
            consul: self.clone(),
            id,
            batch: Batcher::new(self.client.clone(), limits),
        })
    }
}

/// How an acquisition ended, when Consul answered definitely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// We hold the key; its new `ModifyIndex` is the fencing token.
    Held(FencingToken),
    /// Another session holds it.
    Taken,
    /// Consul's lock-delay blocks it.
    LockDelay,
    /// Our session no longer exists.
    SessionGone,
    /// Consul has no leader (an election is on): it refused before applying
    /// anything, so the attempt can be repeated.
    NoLeader,
    /// Consul refused for another reason (the text of `Errors[0].What`).
    Refused(String),
}

/// The member's session and the writes made under it.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    consul: Consul,
    id: SessionId,
    /// Locks and deletes go out in shared transactions.
    batch: Batcher,
}

impl Session {
    pub(crate) fn id(&self) -> &SessionId {
        &self.id
    }

    pub(crate) fn consul(&self) -> &Consul {
        &self.consul
    }

    /// Whether `entry` is locked by this session.
    pub(crate) fn holds(&self, entry: &KvEntry) -> bool {
        entry.session.as_ref() == Some(&self.id)
    }

    /// Acquires `key` with a `/v1/txn` `lock` op (in a transaction shared
    /// with other writes in flight), which (unlike `PUT ?acquire`) answers
    /// with the key's new `ModifyIndex`.
    /// `flags` marks what the key stands for (a semaphore contender carries
    /// Consul's semaphore flag value).
    pub(crate) async fn acquire(
        &self,
        key: &str,
        value: Vec<u8>,
        flags: u64,
    ) -> Result<Acquired, Error> {
        let bytes = key.len() + value.len();
        let op = txn::lock_with_flags(key, value, flags, &self.id);
        Ok(match self.batch.submit(op, OpKind::Lock, bytes).await? {
            Answer::Applied(Some(index)) => Acquired::Held(index.into()),
            Answer::Applied(None) | Answer::Stale => return Err(Error::new(ErrorKind::Rejected)),
            Answer::NoLeader => Acquired::NoLeader,
            Answer::Failed(what) => match TxnFailure::classify(&what) {
                TxnFailure::LockHeld => Acquired::Taken,
                TxnFailure::LockDelay => Acquired::LockDelay,
                TxnFailure::InvalidSession => Acquired::SessionGone,
                _ => Acquired::Refused(what),
            },
        })
    }

    /// Deletes `key` if its `ModifyIndex` is still `token` (a `delete-cas`
    /// op, batched like acquisitions): `false` means someone (even we)
    /// re-acquired it since. A missing key counts as deleted, as Consul's
    /// `DELETE ?cas` answers.
    pub(crate) async fn delete_if(&self, key: &str, token: FencingToken) -> Result<bool, Error> {
        let index = token.into();
        let op = txn::delete_cas(key, index);
        let kind = OpKind::DeleteCas {
            key: key.to_owned(),
            index,
        };
        match self.batch.submit(op, kind, key.len()).await? {
            Answer::Applied(_) => Ok(true),
            Answer::Stale => Ok(false),
            // Refused before anything was applied.
            Answer::NoLeader => Err(Error::new(ErrorKind::Unavailable)),
            Answer::Failed(what) => Err(Error::with_source(ErrorKind::Rejected, Refusal(what))),
        }
    }

    /// Renews the session. `Ok(None)`: Consul no longer has it. Otherwise the
    /// TTL Consul answered with, when it could be read.
    pub(crate) async fn renew(&self) -> Result<Option<Option<Duration>>, Error> {
        let renewed = self.consul.client.session().renew(&self.id).await?;
        Ok(renewed.map(|session| {
            parse_go_duration(&session.ttl)
                .ok()
                .and_then(|ns| u64::try_from(ns).ok())
                .map(Duration::from_nanos)
        }))
    }

    /// Whether Consul still has the session (one consistent read).
    pub(crate) async fn alive(&self) -> Result<bool, Error> {
        let opts = QueryOptions::new().with_consistency(Consistency::Consistent);
        let info = self.consul.client.session().info(&self.id, opts).await?;
        Ok(info.value.is_some())
    }

    /// Blocking queries on the session itself.
    pub(crate) fn watch(&self, config: WatchConfig) -> Watch<Option<SessionEntry>> {
        self.consul.client.session().watch_info(&self.id, config)
    }

    /// Destroys the session (graceful shutdown).
    pub(crate) async fn destroy(&self) -> Result<(), Error> {
        Ok(self.consul.client.session().destroy(&self.id).await?)
    }
}
