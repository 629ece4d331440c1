//! Semaphores: at most N holders of a name at once, in the layout of
//! Consul's Go `api.Semaphore`, so that `consul lock -n N <namespace>/NAME`
//! and consuela share the same slots.
//!
//! A semaphore `NAME` of limit `N` lives under `<namespace>/NAME/`:
//!
//! - one **contender key** per contender, `<namespace>/NAME/<session>`,
//!   acquired with the contender's session (so it vanishes with it) and
//!   flagged [`SEMAPHORE_FLAGS`]; consuela stores its usual record there,
//!   marked `"kind":"slot","limit":N`;
//! - the **coordination key** `<namespace>/NAME/.lock`, flagged
//!   [`SEMAPHORE_FLAGS`], holding `{"Limit":N,"Holders":{"<session>":true}}`
//!   and written only by check-and-set on its `ModifyIndex`.
//!
//! A contender holds a slot once its session is in `Holders`; a holder whose
//! session no longer holds any key under the prefix is dead and pruned by
//! whoever writes `.lock` next. A consuela contender gives a dead holder's
//! slot out only one `session.lock_delay` after it first saw it dead (the
//! margin Consul's lock-delay gives names, which a successor's own contender
//! key does not get); a holder that removes its own entry (release, drop)
//! costs its successor nothing. Every contender must agree on the limit: a
//! `.lock` (or a live consuela contender) saying another one is refused with
//! [`ErrorKind::LimitMismatch`].
//!
//! Because `Holders` is keyed by session, a member holds at most one slot of
//! a semaphore at a time; a second [`Registry::acquire_slot`] of the same
//! semaphore by the same registry fails with
//! [`ErrorKind::AlreadyRegistered`].

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use consuela_client::api::txn;
use consuela_client::{Consistency, QueryOptions, TxnOutcome};
use consuela_wire::{Index, KvEntry, SessionId};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::directory::Directory;
use crate::error::{Error, ErrorKind};
use crate::event::Event;
pub use crate::holder::SEMAPHORE_FLAGS;
use crate::holder::{Contact, Holder, Role};
use crate::name::Name;
use crate::registry::{Registration, Registry, SpawnHandle};
use crate::retry::NoLeaderBackoff;
use crate::slot_table::{LOCK_KEY, Plan, Refusal, Table};
use crate::token::FencingToken;

/// How long one blocking read of a full semaphore's prefix waits.
const FULL_WAIT: Duration = Duration::from_secs(30);
/// How many times a release retries its `.lock` CAS before leaving the
/// entry to be pruned.
const RELEASE_CAS_ATTEMPTS: usize = 8;
/// Between attempts to remove a dropped slot's `.lock` entry.
const FORGET_RETRY: Duration = Duration::from_millis(25);

/// Proof that this member holds one slot of a semaphore. It behaves like a
/// [`Registration`]: [`lost`](Self::lost) fires when the registry can no
/// longer guarantee it, dropping it releases the slot in the background
/// (its contender key is deleted, then its `.lock` entry), and
/// [`release`](Self::release) releases it and waits.
///
/// A holder that ends without removing its `.lock` entry (a crash, a lost
/// session) leaves a dead entry, whose slot consuela contenders give out
/// only one lock-delay after they first see it dead: a successor takes the
/// slot with its own key, which Consul's lock-delay does not hold back.
#[derive(Debug)]
#[must_use = "dropping a Slot releases it"]
pub struct Slot {
    registry: Registry,
    semaphore: Name,
    limit: u32,
    contender: Option<Registration>,
}

impl Slot {
    /// The semaphore's name.
    pub fn semaphore(&self) -> &Name {
        &self.semaphore
    }

    /// The semaphore's limit.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The contender key's name, `NAME/<session>`, as `list` and `watch`
    /// show the slot.
    pub fn name(&self) -> &Name {
        self.contender().name()
    }

    /// The contender key's holder record.
    pub fn holder(&self) -> &Holder {
        self.contender().holder()
    }

    /// The slot's fencing token: the `ModifyIndex` at which this contender
    /// key was acquired. Every slot grant has its own contender acquisition,
    /// so tokens are unique per grant and strictly increase in the order the
    /// contenders entered; see ARCHITECTURE.md for what a downstream system
    /// can conclude from them.
    pub fn fencing_token(&self) -> FencingToken {
        self.contender().fencing_token()
    }

    /// Whether the slot can no longer be guaranteed.
    pub fn is_lost(&self) -> bool {
        self.contender().is_lost()
    }

    /// Resolves when the slot can no longer be guaranteed: the registry's
    /// session was lost, or the registry was dropped or shut down. Stop using
    /// the slot at once when it fires.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn lost(&self) -> WaitForCancellationFuture<'_> {
        self.contender().lost()
    }

    /// Releases the slot and waits: removes this session from `.lock`'s
    /// holders by CAS, then deletes the contender key (the deletion alone
    /// already frees the slot for every contender, which prunes us).
    ///
    /// # Errors
    ///
    /// The outcome kinds when Consul did not answer the deletion definitely;
    /// the contender key then goes to the reaper, which keeps trying.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in effect: if cancelled, the contender key is still
    /// released in the background (as on drop).
    pub async fn release(mut self) -> Result<(), Error> {
        let contender = self.contender.take().expect("a slot has its contender");
        release(&self.registry, &self.semaphore, contender).await
    }

    fn contender(&self) -> &Registration {
        self.contender.as_ref().expect("a slot has its contender")
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(contender) = self.contender.take() else {
            return;
        };
        let lost = contender.is_lost();
        // Released as a registration: at once in the member (so this member
        // may contend again right away), its key deleted in the background.
        drop(contender);
        if lost || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        // Then this session's `.lock` entry, once the key is gone, so that
        // successors need not hold its slot back (see `grant`).
        let registry = self.registry.clone();
        let semaphore = self.semaphore.clone();
        self.registry.clone().track(async move {
            forget_dead_entry(&registry, &semaphore).await;
        });
    }
}

/// Removes this session's entry from `.lock` once its contender key is gone:
/// one txn of `check-not-exists` on the key and the CAS, so an entry a new
/// contender of this session relies on is never removed. A few attempts,
/// then the entry is left to be pruned.
async fn forget_dead_entry(registry: &Registry, semaphore: &Name) {
    let prefix = prefix(registry.directory(), semaphore);
    let lock_key = format!("{prefix}{LOCK_KEY}");
    let session = registry.session().clone();
    let contender_key = format!("{prefix}{}", session.as_str());
    for _ in 0..RELEASE_CAS_ATTEMPTS * 4 {
        tokio::time::sleep(FORGET_RETRY).await;
        if registry.check_running().is_err() {
            return;
        }
        let Ok(entries) = read_prefix(registry, &prefix).await else {
            return;
        };
        let Ok(table) = Table::read(&prefix, &entries) else {
            return;
        };
        if entries.iter().any(|e| e.key == contender_key) {
            // Not deleted yet, or this session contends again: wait.
            continue;
        }
        let Some(value) = table.without(&session) else {
            return;
        };
        let ops = [
            txn::check_not_exists(&contender_key),
            txn::cas(&lock_key, value, SEMAPHORE_FLAGS, table.lock_index),
        ];
        match registry.client().txn().execute(&ops).await {
            Ok(TxnOutcome::Committed(_)) | Err(_) => return,
            Ok(TxnOutcome::RolledBack(_)) => {}
        }
    }
}

/// Every key under a semaphore's prefix, `.lock` and contenders (one read).
async fn read_prefix(registry: &Registry, prefix: &str) -> Result<Vec<KvEntry>, Error> {
    registry
        .directory()
        .consul()
        .list(prefix, Consistency::Default)
        .await
}

/// Removes our session from `.lock` (best effort), then deletes the contender.
async fn release(
    registry: &Registry,
    semaphore: &Name,
    contender: Registration,
) -> Result<(), Error> {
    let fencing_token = contender.fencing_token();
    if !contender.is_lost() {
        let prefix = prefix(registry.directory(), semaphore);
        let lock_key = format!("{prefix}{LOCK_KEY}");
        let session = registry.session();
        for _ in 0..RELEASE_CAS_ATTEMPTS {
            let Ok(entries) = read_prefix(registry, &prefix).await else {
                break;
            };
            let Some((value, index)) = Table::read(&prefix, &entries)
                .ok()
                .and_then(|t| t.without(session).map(|v| (v, t.lock_index)))
            else {
                break;
            };
            let op = txn::cas(&lock_key, value, SEMAPHORE_FLAGS, index);
            match registry.client().txn().execute(&[op]).await {
                Ok(TxnOutcome::Committed(_)) => break,
                Ok(TxnOutcome::RolledBack(_)) => {}
                Err(_) => break,
            }
        }
    }
    let released = contender.unregister().await;
    registry.pulses().emit(Event::SlotReleased {
        semaphore: semaphore.clone(),
        fencing_token,
    });
    released
}

/// The key prefix of a semaphore, ending with `/`.
fn prefix(directory: &Directory, semaphore: &Name) -> String {
    format!("{}/", directory.key(semaphore))
}

/// A semaphore's slots as read from Consul.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Semaphore {
    /// The limit in `.lock`; `None` before any slot was ever taken.
    pub limit: Option<i64>,
    /// The live holders, by session.
    pub holders: Vec<SlotHolder>,
    /// Contenders that hold no slot (waiting for one).
    pub waiting: Vec<SlotHolder>,
    /// The `.lock` key's `ModifyIndex` (0 when absent).
    pub lock_index: FencingToken,
}

/// One contender of a semaphore.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SlotHolder {
    /// The contender's Consul session.
    pub session: SessionId,
    /// Its consuela record; `None` for a contender that is not consuela's
    /// (Consul's Go `api.Semaphore` stores the caller's own value).
    pub holder: Option<Holder>,
}

impl Semaphore {
    /// Reads the entries under a semaphore's prefix.
    fn read(
        directory: &Directory,
        prefix: &str,
        entries: &[KvEntry],
    ) -> Result<Option<Self>, Error> {
        if entries.is_empty() {
            return Ok(None);
        }
        let table = Table::read(prefix, entries).map_err(refusal)?;
        let mut semaphore = Self {
            limit: table.limit,
            holders: Vec::new(),
            waiting: Vec::new(),
            lock_index: table.lock_index.0.into(),
        };
        let keys = directory.view().keys();
        for entry in entries {
            let Some(session) = &entry.session else {
                continue;
            };
            if entry.key != format!("{prefix}{}", session.as_str()) {
                continue;
            }
            let holder = keys
                .name(&entry.key)
                .and_then(|name| directory.view().holder(&name, entry).ok().flatten());
            let slot = SlotHolder {
                session: session.clone(),
                holder,
            };
            if table.holds(session) {
                semaphore.holders.push(slot);
            } else {
                semaphore.waiting.push(slot);
            }
        }
        Ok(Some(semaphore))
    }
}

fn refusal(refusal: Refusal) -> Error {
    match refusal {
        Refusal::LimitMismatch {
            found,
            local,
            in_lock,
        } => Error::new(ErrorKind::LimitMismatch {
            found,
            local,
            in_lock,
        }),
        other => Error::with_source(ErrorKind::Foreign, crate::error::Refusal(other.to_string())),
    }
}

impl Directory {
    /// The slots of semaphore `name`, with one consistent Consul read;
    /// `None` when nothing lives under its prefix.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`]; the outcome kinds when Consul cannot be
    /// read; [`ErrorKind::Foreign`] when `NAME/.lock` is not a semaphore's.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn semaphore(&self, name: impl AsRef<str>) -> Result<Option<Semaphore>, Error> {
        let name = Name::new(name)?;
        let prefix = prefix(self, &name);
        let entries = self.consul().list(&prefix, Consistency::Consistent).await?;
        Semaphore::read(self, &prefix, &entries)
    }
}

impl Registry {
    /// Takes one slot of semaphore `name` of `limit` slots if one is free,
    /// with Consul's Go `api.Semaphore` protocol: acquires the contender key
    /// `NAME/<session>`, reads the prefix, and adds this session to
    /// `NAME/.lock`'s holders by CAS.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::SemaphoreFull`] when every slot is held by a live holder;
    /// - [`ErrorKind::LimitMismatch`] when `.lock` or a live contender records
    ///   another limit; [`ErrorKind::InvalidLimit`] for a limit of 0;
    /// - [`ErrorKind::AlreadyRegistered`] when this member already contends
    ///   for or holds a slot of `name` (one slot per session);
    /// - [`ErrorKind::Foreign`] when `NAME/.lock` is not a semaphore's (a
    ///   `consul lock` key without `-n`);
    /// - as [`register`](Self::register) otherwise.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped attempt releases its contender key (through the
    /// reaper if need be); a `.lock` entry it may have written is pruned once
    /// the contender key is gone.
    pub async fn acquire_slot(
        &self,
        name: impl AsRef<str>,
        limit: u32,
        contact: Contact,
    ) -> Result<Slot, Error> {
        self.take_slot(name.as_ref(), limit, contact, false).await
    }

    /// [`acquire_slot`](Self::acquire_slot), waiting (with blocking queries on
    /// the prefix, not polling) until a slot frees instead of failing with
    /// [`ErrorKind::SemaphoreFull`]. Bound the wait with
    /// `tokio::time::timeout`.
    ///
    /// # Errors
    ///
    /// As [`acquire_slot`](Self::acquire_slot), without `SemaphoreFull`; the
    /// fatal kinds when the registry stops while waiting.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire_slot`](Self::acquire_slot).
    pub async fn wait_slot(
        &self,
        name: impl AsRef<str>,
        limit: u32,
        contact: Contact,
    ) -> Result<Slot, Error> {
        self.take_slot(name.as_ref(), limit, contact, true).await
    }

    /// Runs `future` only while holding a slot of semaphore `name`: it starts
    /// once a slot is taken (failing at once when the semaphore is full), the
    /// slot is released when it ends, and it is dropped as soon as the slot
    /// is lost or the registry stops.
    ///
    /// # Errors
    ///
    /// As [`acquire_slot`](Self::acquire_slot); the future is not started then.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire_slot`](Self::acquire_slot).
    pub async fn spawn_limited<F>(
        &self,
        name: impl AsRef<str>,
        limit: u32,
        contact: Contact,
        future: F,
    ) -> Result<SpawnHandle<F::Output>, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let slot = self.acquire_slot(name, limit, contact).await?;
        let holder = slot.holder().clone();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let registry = self.downgrade();
        let join = self.user_tasks().spawn(async move {
            let outcome = tokio::select! {
                biased;
                () = slot.lost() => None,
                () = stopped.cancelled() => None,
                out = future => Some(out),
            };
            // The future is dropped here, before the slot is released.
            match outcome {
                Some(out) => {
                    let _ = slot.release().await;
                    Ok(out)
                }
                None if slot.is_lost() => {
                    drop(slot);
                    Err(registry.stopped_error())
                }
                None => {
                    let _ = slot.release().await;
                    Err(Error::new(ErrorKind::Stopped))
                }
            }
        });
        Ok(SpawnHandle::from_parts(join, stop, holder))
    }

    /// The slots of semaphore `name`: one consistent Consul read.
    ///
    /// # Errors
    ///
    /// As [`Directory::semaphore`], and the fatal kinds once the registry stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn semaphore(&self, name: impl AsRef<str>) -> Result<Option<Semaphore>, Error> {
        self.check_running()?;
        self.directory().semaphore(name).await
    }

    async fn take_slot(
        &self,
        name: &str,
        limit: u32,
        contact: Contact,
        wait: bool,
    ) -> Result<Slot, Error> {
        let semaphore = Name::new(name)?;
        if limit == 0 {
            return Err(Error::new(ErrorKind::InvalidLimit));
        }
        let contender_name = Name::new(format!("{semaphore}/{}", self.session().as_str()))?;
        let contender = self
            .register_as(&contender_name, contact, Role::Slot { limit })
            .await?;
        let started = tokio::time::Instant::now();
        match self.grant(&semaphore, limit, &contender, wait).await {
            Ok(()) => {
                self.pulses().emit(Event::SlotTaken {
                    semaphore: semaphore.clone(),
                    limit,
                    fencing_token: contender.fencing_token(),
                    latency: started.elapsed(),
                });
                Ok(Slot {
                    registry: self.downgrade(),
                    semaphore,
                    limit,
                    contender: Some(contender),
                })
            }
            Err(error) => {
                if matches!(
                    error.kind(),
                    ErrorKind::SemaphoreFull { .. }
                        | ErrorKind::LimitMismatch { .. }
                        | ErrorKind::Foreign
                ) {
                    self.pulses().emit(Event::SlotRefused {
                        semaphore,
                        error: error.clone(),
                    });
                }
                // Dropping the contender releases its key.
                Err(error)
            }
        }
    }

    /// The `.lock` step of an acquisition whose contender key is held: `Ok`
    /// once `.lock` lists our session.
    async fn grant(
        &self,
        semaphore: &Name,
        limit: u32,
        contender: &Registration,
        wait: bool,
    ) -> Result<(), Error> {
        let contender_name = contender.name();
        let prefix = prefix(self.directory(), semaphore);
        let lock_key = format!("{prefix}{LOCK_KEY}");
        let contender_key = self.directory().key(contender_name);
        let session = self.session().clone();
        let mut index: Option<Index> = None;
        let mut backoff = NoLeaderBackoff::new();
        // When each dead holder was first seen dead: its slot is held back
        // for the lock-delay from then, as Consul holds back a dead session's
        // keys (a successor's own contender key is not held back by Consul).
        let margin = self.config().session.lock_delay;
        let mut dead_since: HashMap<String, Instant> = HashMap::new();
        let mut wake: Option<Instant> = None;
        loop {
            if contender.is_lost() {
                return Err(self.stopped_error());
            }
            let opts = match index {
                Some(index) => QueryOptions::blocking(index, FULL_WAIT),
                None => QueryOptions::new(),
            }
            .with_consistency(Consistency::Consistent);
            let read = self.client().kv().list(&prefix, opts);
            let answer = tokio::select! {
                () = contender.lost() => return Err(self.stopped_error()),
                // A held-back slot frees with no change in Consul: read again.
                () = sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                    (index, wake) = (None, None);
                    continue;
                }
                answer = read => answer?,
            };
            let table = Table::read(&prefix, &answer.value).map_err(refusal)?;
            let now = Instant::now();
            dead_since.retain(|s, _| table.dead.contains(s));
            for session in &table.dead {
                dead_since.entry(session.clone()).or_insert(now);
            }
            let held_back: BTreeSet<String> = dead_since
                .iter()
                .filter(|(_, seen)| now < **seen + margin)
                .map(|(s, _)| s.clone())
                .collect();
            wake = None;
            match table.plan(&session, limit, &held_back).map_err(refusal)? {
                Plan::Held => return Ok(()),
                // Full of live holders, or of slots held back for a while:
                // without `wait`, only the former is an answer.
                Plan::Full if wait || table.holders.len() < limit as usize => {
                    index = Some(answer.index);
                    wake = dead_since
                        .values()
                        .map(|seen| *seen + margin)
                        .filter(|at| *at > now)
                        .min();
                }
                Plan::Full => return Err(Error::new(ErrorKind::SemaphoreFull { limit })),
                Plan::Take { value, index: at } => {
                    index = None;
                    let ops = [
                        txn::check_session(&contender_key, &session),
                        txn::cas(&lock_key, value, SEMAPHORE_FLAGS, at),
                    ];
                    match self.client().txn().execute(&ops).await {
                        Ok(TxnOutcome::Committed(_)) => return Ok(()),
                        Ok(outcome) if outcome.failure_of(0).is_some() => {
                            // Our contender key is gone: only our session's
                            // end (or an operator) takes it.
                            self.check_running()?;
                            return Err(Error::with_source(
                                ErrorKind::Rejected,
                                crate::error::Refusal("the contender key was removed".into()),
                            ));
                        }
                        // Another contender wrote `.lock` first: read again.
                        Ok(_) => {}
                        Err(e) if e.kind() == consuela_client::ErrorKind::NoLeader => {
                            tokio::time::sleep(backoff.next()).await;
                        }
                        // The CAS may have applied: the next read tells.
                        Err(e) if e.outcome() == consuela_client::Outcome::Unknown => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }
}
