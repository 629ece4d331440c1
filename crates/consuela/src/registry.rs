//! The registry handle: register, look up, list, spawn and shut down.

pub(crate) mod consul;
mod local;
mod registration;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use consuela_client::{Client, ClientConfig, Consistency, WatchConfig};
use consuela_wire::{Behavior, CheckId, ServiceCheckRef, SessionRequest};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use registration::{Registration, SpawnHandle};

use self::consul::{Acquired, Consul, from_client};
use self::local::{Claim, Held, Local};
use crate::config::{Config, OnLost};
use crate::directory::{Directory, owner_record};
use crate::error::{Error, ErrorKind, LostReason};
use crate::event::{Component, Event, Pulse, Pulses, TracingPulse};
use crate::keeper::{self, Deadline, Keeper};
use crate::name::Name;
use crate::reaper::{self, ReaperHandle, Zombie};
use crate::record::{Owner, ProcessId, Record, Registered};
use crate::watch::RegistryWatch;

/// Where a registry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Serving.
    Running,
    /// Fail-stopped: every `lost()` fired; calls answer `SessionLost`.
    Lost(LostReason),
    /// [`Registry::shutdown`] is releasing names.
    ShuttingDown,
    /// Shut down cleanly.
    Shutdown,
}

/// How many names a shutdown releases at once.
const SHUTDOWN_CONCURRENCY: usize = 64;

/// A handle to a running registry. Cheap to clone; all clones share one
/// session. Dropping every handle without [`shutdown`](Self::shutdown) is
/// treated as a crash: renewals stop, every `lost()` fires, and Consul frees
/// the names once the session expires.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
    /// `None` in the internal handles of background components, so that they
    /// do not keep the registry alive.
    _alive: Option<Arc<Alive>>,
}

/// Fail-stops the registry when the last [`Registry`] handle goes.
#[derive(Debug)]
struct Alive(Arc<Inner>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fail_stop(LostReason::Abandoned);
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    consul: Consul,
    directory: Directory,
    member: String,
    config: Config,
    next_rid: AtomicU64,
    local: Local,
    /// Cancelled when ownership can no longer be guaranteed (fail-stop or
    /// shutdown): every `Registration::lost()` waits on it.
    lost: CancellationToken,
    /// Stops the keeper and the reaper.
    stop: CancellationToken,
    state: watch::Sender<State>,
    reaper: ReaperHandle,
    pulses: Pulses,
    /// Keeper, reaper and background releases.
    tasks: TaskTracker,
    /// Futures run by [`Registry::spawn`].
    spawned: TaskTracker,
}

/// Builds a [`Registry`] with event handlers.
pub struct RegistryBuilder {
    config: Config,
    pulses: Pulses,
    client: Option<ClientConfig>,
    ignore_deadline: bool,
}

impl std::fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("config", &self.config)
            .field("pulses", &self.pulses)
            .finish_non_exhaustive()
    }
}

impl RegistryBuilder {
    /// Adds a handler for every component's events. Without any, events are
    /// logged through `tracing` ([`TracingPulse`]).
    pub fn pulse(mut self, pulse: impl Pulse) -> Self {
        self.pulses.add(None, Arc::new(pulse));
        self
    }

    /// Adds a handler for one component's events.
    pub fn component_pulse(mut self, component: Component, pulse: impl Pulse) -> Self {
        self.pulses.add(Some(component), Arc::new(pulse));
        self
    }

    /// Uses this client configuration instead of the one derived from
    /// [`Config::consul`] (for a request hook, TLS from memory, pool sizes).
    pub fn client_config(mut self, client: ClientConfig) -> Self {
        self.client = Some(client);
        self
    }

    /// **Breaks the safety guarantee; for tests only.** The keeper keeps
    /// believing in its session past the deadline, and the session watch is
    /// off. The safety checker uses it to prove that it can fail.
    #[cfg(feature = "test-util")]
    pub fn unsafe_ignore_deadline(mut self) -> Self {
        self.ignore_deadline = true;
        self.config.keeper.watch_session = false;
        self
    }

    /// Validates the configuration, creates the session and starts the keeper
    /// and the reaper.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for an invalid configuration; the outcome kinds
    /// when Consul cannot create the session (a registry cannot start without
    /// Consul, as in the original).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if cancelled after Consul created the session, the
    /// session is left to expire on its own.
    pub async fn start(self) -> Result<Registry, Error> {
        let config = self.config.validate()?;
        let mut pulses = self.pulses;
        if pulses.is_empty() {
            pulses.add(None, Arc::new(TracingPulse));
        }
        let client_config = match self.client {
            Some(c) => c,
            None => config.client_config(),
        };
        let client = Client::new(client_config).map_err(from_client)?;
        let directory = Directory::new(client.clone(), &config.namespace)?;
        let member = config.member_name();

        let request = SessionRequest {
            name: Some(config.session_name().to_owned()),
            node: Some(config.nodename.clone().into()),
            ttl: Some(crate::config::duration::format(config.session.ttl)),
            lock_delay: Some(consuela_wire::GoDuration::from_std(
                config.session.lock_delay,
            )),
            behavior: Some(Behavior::Delete),
            ..session_checks(&config.session.checks)
        };
        let sent = Instant::now();
        let session = client
            .session()
            .create(&request)
            .await
            .map_err(from_client)?;
        let consul = Consul { client, session };

        let stop = CancellationToken::new();
        let (reaper, reaper_task) = reaper::spawn(reaper::Reaper {
            consul: consul.clone(),
            directory: directory.clone(),
            pulses: pulses.clone(),
            policy: config.reaper.retry.clone(),
            stop: stop.clone(),
        });
        let deadline = Deadline::new(
            sent,
            config.session.ttl,
            config.keeper.margin,
            config.keeper.interval,
        );
        let keeper = Keeper {
            consul: consul.clone(),
            deadline,
            pulses: pulses.clone(),
            reaper: reaper.clone(),
            stop: stop.clone(),
            ignore_deadline: self.ignore_deadline,
        };
        pulses.emit(Event::Started {
            session: consul.session.to_string(),
            ttl: config.session.ttl,
        });
        let inner = Arc::new(Inner {
            consul,
            directory,
            member,
            config,
            next_rid: AtomicU64::new(1),
            local: Local::default(),
            lost: CancellationToken::new(),
            stop,
            state: watch::Sender::new(State::Running),
            reaper,
            pulses,
            tasks: TaskTracker::new(),
            spawned: TaskTracker::new(),
        });
        let weak = Arc::downgrade(&inner);
        inner.tasks.spawn(async move {
            if reaper_task.await == reaper::Exit::GaveUp
                && let Some(inner) = weak.upgrade()
            {
                inner.fail_stop(LostReason::ReaperExhausted);
            }
        });
        if inner.config.keeper.watch_session {
            let weak = Arc::downgrade(&inner);
            let watch = keeper::watch_session(
                inner.consul.clone(),
                inner.config.session.ttl,
                inner.stop.clone(),
            );
            inner.tasks.spawn(async move {
                if let Some(reason) = watch.await
                    && let Some(inner) = weak.upgrade()
                {
                    inner.fail_stop(reason);
                }
            });
        }
        let weak = Arc::downgrade(&inner);
        inner.tasks.spawn(async move {
            if let Some(reason) = keeper.run().await
                && let Some(inner) = weak.upgrade()
            {
                inner.fail_stop(reason);
            }
        });
        Ok(Registry {
            _alive: Some(Arc::new(Alive(inner.clone()))),
            inner,
        })
    }
}

impl Registry {
    /// A builder, to add event handlers before starting.
    pub fn builder(config: Config) -> RegistryBuilder {
        RegistryBuilder {
            config,
            pulses: Pulses::default(),
            client: None,
            ignore_deadline: false,
        }
    }

    /// Starts a registry with default event handling. See [`RegistryBuilder::start`].
    ///
    /// # Errors
    ///
    /// As [`RegistryBuilder::start`].
    ///
    /// # Cancel safety
    ///
    /// As [`RegistryBuilder::start`].
    pub async fn start(config: Config) -> Result<Self, Error> {
        Self::builder(config).start().await
    }

    /// A handle for background components that does not keep the registry
    /// alive (dropping every user handle still counts as a crash).
    pub(crate) fn downgrade(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _alive: None,
        }
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// This member's name, stored with every registration.
    pub fn member(&self) -> &str {
        &self.inner.member
    }

    /// The Consul session id.
    pub fn session(&self) -> &str {
        self.inner.consul.session.as_str()
    }

    /// The Consul client, for requests the registry does not wrap.
    pub fn client(&self) -> &Client {
        &self.inner.consul.client
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        *self.inner.state.borrow()
    }

    /// A receiver that sees every state change.
    pub fn subscribe(&self) -> watch::Receiver<State> {
        self.inner.state.subscribe()
    }

    /// Resolves when the registry stops guaranteeing its names (fail-stop or
    /// shutdown).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn lost(&self) {
        self.inner.lost.cancelled().await;
    }

    /// Registrations this member holds, excluding ones pending.
    pub fn len(&self) -> usize {
        self.inner.local.len()
    }

    /// Whether this member holds no name.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Zombies waiting for the reaper.
    pub fn reaper_queue(&self) -> usize {
        self.inner.reaper.len()
    }

    /// How many event-handler calls panicked (and were caught).
    pub fn pulse_panics(&self) -> u64 {
        self.inner.pulses.panics()
    }

    /// Registers `name` for `owner` with one Consul round trip.
    ///
    /// Registering a name this member already holds for an equal `owner` is
    /// idempotent: it returns another guard for the same registration (same
    /// fencing token); the name is released when the last guard goes.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::AlreadyRegistered`] when another process holds `name`;
    /// - [`ErrorKind::LockDelay`] when Consul's lock-delay blocks it (retry later);
    /// - [`ErrorKind::InvalidName`] for a bad name;
    /// - [`ErrorKind::Unavailable`] / [`ErrorKind::Unknown`] when Consul did not
    ///   answer definitely (an unknown outcome is reconciled by the reaper);
    /// - [`ErrorKind::SessionLost`] / [`ErrorKind::Shutdown`] once the registry stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped while the request is in flight,
    /// the name goes to the reaper, which removes it if it was acquired.
    pub async fn register(
        &self,
        name: impl AsRef<str>,
        owner: Owner,
    ) -> Result<Registration, Error> {
        let name = Name::new(name)?;
        let inner = &self.inner;
        loop {
            inner.check_running()?;
            match inner.local.claim(&name, &owner) {
                Claim::Claimed => break,
                Claim::Wait(mut settled) => {
                    let _ = settled.changed().await;
                }
                Claim::Joined(held) => {
                    return Ok(Registration::new(inner.clone(), name, held.registered()));
                }
                Claim::Taken(held) => {
                    return Err(Error::new(ErrorKind::AlreadyRegistered {
                        owner: Some(Box::new(held.registered())),
                    }));
                }
            }
        }
        let id = ProcessId {
            member: inner.member.clone(),
            rid: inner.next_rid.fetch_add(1, Ordering::Relaxed),
        };
        let mut claim = PendingClaim {
            inner,
            name: &name,
            id: Some(id.clone()),
        };
        let record = Record::new(&id, &owner, SystemTime::now());
        let key = inner.directory.key(&name);
        let started = Instant::now();
        let acquired = timeout(
            inner.config.registry.registration_timeout,
            inner.consul.acquire(&key, record.encode()),
        )
        .await;
        let latency = started.elapsed();
        let result = match acquired {
            Ok(Ok(Acquired::Held { fencing_token })) => {
                claim.id = None;
                let held = Held {
                    id: id.clone(),
                    owner,
                    since: record.since,
                    fencing_token,
                    refs: 1,
                };
                let registered = held.registered();
                inner.local.fill(&name, held);
                drop(claim);
                inner.reaper.kick();
                if let Err(e) = inner.check_running() {
                    // Stopped while we were acquiring. After a fail-stop the
                    // session is gone or expiring and takes the key with it;
                    // during a shutdown, give the name back now.
                    if e.kind().is_shutdown() {
                        let _ = inner.release_now(&name, &id).await;
                    } else {
                        inner.local.release(&name, &id);
                    }
                    return Err(e);
                }
                inner.pulses.emit(Event::Registered {
                    name: name.clone(),
                    id,
                    fencing_token,
                    latency,
                });
                return Ok(Registration::new(inner.clone(), name, registered));
            }
            Ok(Ok(Acquired::Taken)) => {
                claim.id = None;
                inner.reaper.kick();
                let owner = inner
                    .remote(&name, Consistency::Default)
                    .await
                    .ok()
                    .flatten();
                inner.pulses.emit(Event::Conflict {
                    name: name.clone(),
                    holder: owner.as_ref().map(|o| o.id.clone()),
                });
                Error::new(ErrorKind::AlreadyRegistered {
                    owner: owner.map(Box::new),
                })
            }
            Ok(Ok(Acquired::LockDelay)) => {
                claim.id = None;
                inner.pulses.emit(Event::LockDelayed { name: name.clone() });
                Error::new(ErrorKind::LockDelay)
            }
            Ok(Ok(Acquired::SessionGone)) => {
                claim.id = None;
                inner.fail_stop(LostReason::Invalidated);
                keeper::lost(LostReason::Invalidated)
            }
            Ok(Ok(Acquired::Refused(what))) => {
                claim.id = None;
                Error::with_source(ErrorKind::Rejected, Refusal(what))
            }
            // Certainly not applied: nothing to reconcile.
            Ok(Err(e)) if matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Rejected) => {
                claim.id = None;
                e
            }
            // Maybe applied: `claim` hands the name to the reaper when dropped.
            Ok(Err(e)) => e,
            Err(elapsed) => Error::with_source(ErrorKind::Unknown, elapsed),
        };
        if !matches!(
            result.kind(),
            ErrorKind::AlreadyRegistered { .. } | ErrorKind::LockDelay
        ) {
            inner.pulses.emit(Event::RegisterFailed {
                name: name.clone(),
                error: result.clone(),
            });
        }
        drop(claim);
        Err(result)
    }

    /// Runs `future` only while holding `name`: it starts once the name is
    /// registered, the name is released when it ends, and it is aborted
    /// (dropped) as soon as ownership is lost or the registry stops.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register); the future is not started then.
    ///
    /// # Cancel safety
    ///
    /// As [`register`](Self::register).
    pub async fn spawn<F>(
        &self,
        name: impl AsRef<str>,
        owner: Owner,
        future: F,
    ) -> Result<SpawnHandle<F::Output>, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let registration = self.register(name, owner).await?;
        Ok(SpawnHandle::spawn(
            &self.inner.spawned,
            registration,
            future,
        ))
    }

    /// Who holds `name`: from memory for this member's names, otherwise one
    /// Consul read with default consistency.
    ///
    /// Never returns a holder of this member that is no longer registered
    /// (a dead local holder still waiting for the reaper).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`]; the outcome kinds when Consul cannot be
    /// read; [`ErrorKind::Foreign`] when the key holds a value this library
    /// did not write.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn whereis(&self, name: impl AsRef<str>) -> Result<Option<Registered>, Error> {
        self.whereis_with(name, Consistency::Default).await
    }

    /// [`whereis`](Self::whereis) with a chosen read consistency.
    ///
    /// # Errors
    ///
    /// As [`whereis`](Self::whereis).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn whereis_with(
        &self,
        name: impl AsRef<str>,
        consistency: Consistency,
    ) -> Result<Option<Registered>, Error> {
        let name = Name::new(name)?;
        self.inner.check_running()?;
        if let Some(local) = self.inner.local.get(&name) {
            return Ok(Some(local));
        }
        self.inner.remote(&name, consistency).await
    }

    /// This member's own registration of `name`, from memory (no I/O).
    pub fn whereis_local(&self, name: &Name) -> Option<Registered> {
        self.inner.local.get(name)
    }

    /// Every name registered cluster-wide under `prefix` (`""` for all), with
    /// one Consul read, sorted by name.
    ///
    /// # Errors
    ///
    /// The outcome kinds when Consul cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(Name, Registered)>, Error> {
        self.inner.check_running()?;
        let entries = self
            .inner
            .directory
            .entries(prefix, Consistency::Default)
            .await?;
        self.inner.reaper.kick();
        Ok(entries
            .into_iter()
            .filter(|(name, record, entry)| !self.inner.is_dead_local(name, record, entry))
            .map(|(name, record, entry)| (name, record.into_registered(entry.modify_index.0)))
            .collect())
    }

    /// A live stream of ownership changes under `prefix` (`""` for all),
    /// starting with every name already owned, driven by blocking queries.
    pub fn watch(&self, prefix: &str) -> RegistryWatch {
        self.watch_with(prefix, WatchConfig::default())
    }

    /// [`watch`](Self::watch) with explicit blocking-query settings.
    pub fn watch_with(&self, prefix: &str, config: WatchConfig) -> RegistryWatch {
        self.inner.directory.watch_with(prefix, config)
    }

    /// The names this member holds under `prefix`, from memory, sorted.
    pub fn select(&self, prefix: &str) -> Vec<(Name, Registered)> {
        self.inner.local.select(prefix)
    }

    /// Releases every name, drains the reaper, and destroys the session, so
    /// successors need not wait out the lock-delay. Spawned futures are
    /// aborted first, so no successor ever overlaps them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SessionLost`] when the registry had already fail-stopped
    /// (nothing is released then: Consul frees the names when the session
    /// expires). Failing to destroy the session is reported as an event only.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a cancelled shutdown leaves the registry shutting down.
    pub async fn shutdown(&self) -> Result<(), Error> {
        let inner = &self.inner;
        let mut lost = None;
        let started = inner.state.send_if_modified(|s| match *s {
            State::Running => {
                *s = State::ShuttingDown;
                true
            }
            State::Lost(reason) => {
                lost = Some(reason);
                false
            }
            _ => false,
        });
        if let Some(reason) = lost {
            inner.stop.cancel();
            inner.tasks.close();
            inner.tasks.wait().await;
            return Err(keeper::lost(reason));
        }
        if !started {
            // Someone else is shutting down: wait for it.
            let mut rx = inner.state.subscribe();
            let _ = rx.wait_for(|s| *s == State::Shutdown).await;
            return Ok(());
        }
        // 1. Stop every spawned future before any of its names is released.
        inner.lost.cancel();
        inner.spawned.close();
        inner.spawned.wait().await;
        // 2. Release names; failures go to the reaper.
        let held = inner.local.drain();
        futures_util::stream::iter(held)
            .for_each_concurrent(SHUTDOWN_CONCURRENCY, |(name, held)| async move {
                let _ = inner.delete(name, held).await;
            })
            .await;
        // 3. Drain the reaper within its bound, then stop the keeper.
        let deadline = Instant::now() + inner.config.reaper.shutdown_timeout;
        inner.reaper.shutdown(deadline).await;
        inner.stop.cancel();
        inner.tasks.close();
        inner.tasks.wait().await;
        // 4. Destroy the session.
        match keeper::destroy(&inner.consul).await {
            Ok(()) => inner.pulses.emit(Event::SessionDestroyed),
            Err(error) => tracing::warn!(%error, "could not destroy the session; it will expire"),
        }
        inner.state.send_replace(State::Shutdown);
        inner.pulses.emit(Event::Shutdown);
        Ok(())
    }
}

/// Hands an acquisition whose outcome is unknown to the reaper, including
/// when the `register` future is dropped mid-flight.
struct PendingClaim<'a> {
    inner: &'a Arc<Inner>,
    name: &'a Name,
    /// `Some` while the outcome is unknown.
    id: Option<ProcessId>,
}

impl Drop for PendingClaim<'_> {
    fn drop(&mut self) {
        self.inner.local.abandon(self.name);
        if let Some(id) = self.id.take()
            && self.inner.check_running().is_ok()
        {
            self.inner.reaper.enqueue(
                Zombie {
                    name: self.name.clone(),
                    id,
                    fencing_token: None,
                },
                false,
            );
        }
    }
}

/// A txn refusal that fits no known case, kept as the error's source.
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

impl Inner {
    pub(crate) fn spawned(&self) -> &TaskTracker {
        &self.spawned
    }

    pub(crate) fn pulses(&self) -> &Pulses {
        &self.pulses
    }

    pub(crate) fn key(&self, name: &Name) -> String {
        self.directory.key(name)
    }

    /// Why the registry stopped guaranteeing names, as the error calls answer.
    pub(crate) fn lost_reason(&self) -> Error {
        self.check_running()
            .err()
            .unwrap_or_else(|| Error::new(ErrorKind::Shutdown))
    }

    fn check_running(&self) -> Result<(), Error> {
        match *self.state.borrow() {
            State::Running => Ok(()),
            State::Lost(reason) => Err(keeper::lost(reason)),
            State::ShuttingDown | State::Shutdown => Err(Error::new(ErrorKind::Shutdown)),
        }
    }

    /// Fail-stop: from now on no name is guaranteed. Idempotent.
    pub(crate) fn fail_stop(&self, reason: LostReason) {
        let changed = self.state.send_if_modified(|s| {
            if *s == State::Running {
                *s = State::Lost(reason);
                true
            } else {
                false
            }
        });
        if !changed {
            return;
        }
        self.lost.cancel();
        self.stop.cancel();
        self.local.drain();
        self.pulses.emit(Event::Lost { reason });
        if self.config.on_lost == OnLost::Exit && reason != LostReason::Abandoned {
            tracing::error!(%reason, "registry lost its session; exiting as configured");
            std::process::exit(crate::EXIT_CODE_SESSION_LOST);
        }
    }

    /// Reads `name` from Consul and decodes its owner.
    async fn remote(
        &self,
        name: &Name,
        consistency: Consistency,
    ) -> Result<Option<Registered>, Error> {
        let Some((record, entry)) = self.directory.read(name, consistency).await? else {
            return Ok(None);
        };
        self.reaper.kick();
        if self.is_dead_local(name, &record, &entry) {
            return Ok(None);
        }
        Ok(Some(record.into_registered(entry.modify_index.0)))
    }

    /// Decodes an entry; `None` for free keys, foreign values and our own
    /// dead registrations.
    pub(crate) fn decode(&self, name: &Name, entry: &consuela_wire::KvEntry) -> Option<Registered> {
        let record = owner_record(entry).ok()??;
        if self.is_dead_local(name, &record, entry) {
            return None;
        }
        Some(record.into_registered(entry.modify_index.0))
    }

    /// A key still locked by our session for a registration we no longer hold
    /// (released locally, removal pending in the reaper).
    fn is_dead_local(&self, name: &Name, record: &Record, entry: &consuela_wire::KvEntry) -> bool {
        record.member == self.member
            && self.consul.is_ours(entry)
            && !self.local.holds(name, &record.id())
    }

    /// Drops one guard of a registration; the last one releases the name in
    /// the background (or through the reaper when there is no runtime).
    pub(crate) fn release_in_background(self: &Arc<Self>, name: Name, id: &ProcessId) {
        let Some(held) = self.local.release(&name, id) else {
            return;
        };
        // After a fail-stop the session takes the key with it. During a
        // shutdown the name must still be deleted here: the shutdown's own
        // sweep no longer sees it, and leaving it to the session's destroy
        // would impose the lock-delay on successors.
        if matches!(*self.state.borrow(), State::Lost(_) | State::Shutdown) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let inner = self.clone();
                self.tasks
                    .spawn_on(async move { inner.delete(name, held).await }, &rt);
            }
            Err(_) => self.reaper.enqueue(
                Zombie {
                    name,
                    id: held.id,
                    fencing_token: Some(held.fencing_token),
                },
                true,
            ),
        }
    }

    /// Drops one guard of a registration; the last one releases the name now.
    /// Failures go to the reaper.
    pub(crate) async fn release_now(&self, name: &Name, id: &ProcessId) -> Result<(), Error> {
        let Some(held) = self.local.release(name, id) else {
            return Ok(());
        };
        self.delete(name.clone(), held).await
    }

    /// Deletes our key of `name` with one `DELETE ?cas=<fencing token>`.
    async fn delete(&self, name: Name, held: Held) -> Result<(), Error> {
        let key = self.directory.key(&name);
        let started = Instant::now();
        let deleted = timeout(
            self.config.registry.registration_timeout,
            self.consul.delete_if(&key, held.fencing_token),
        )
        .await
        .unwrap_or_else(|elapsed| Err(Error::with_source(ErrorKind::Unknown, elapsed)));
        match deleted {
            Ok(deleted) => {
                self.reaper.kick();
                self.pulses.emit(Event::Unregistered {
                    name,
                    id: held.id,
                    stale: !deleted,
                    latency: started.elapsed(),
                });
                Ok(())
            }
            Err(error) => {
                self.pulses.emit(Event::UnregisterFailed {
                    name: name.clone(),
                    error: error.clone(),
                });
                self.reaper.enqueue(
                    Zombie {
                        name,
                        id: held.id,
                        fencing_token: Some(held.fencing_token),
                    },
                    false,
                );
                Err(error)
            }
        }
    }
}

/// The check fields of the session request, readable by every Consul version.
///
/// No checks: `Checks: []`, which every version reads as "no checks at all"
/// (in particular no `serfHealth`). Bound to service checks: 1.0-1.6 read
/// `Checks`; 1.7+ apply their fix-up rules, under which an empty
/// `NodeChecks` clears `Checks` and leaves exactly `ServiceChecks`.
fn session_checks(checks: &[String]) -> SessionRequest {
    let ids: Vec<CheckId> = checks.iter().map(|c| CheckId::new(c.as_str())).collect();
    if ids.is_empty() {
        return SessionRequest {
            checks: Some(Vec::new()),
            ..SessionRequest::default()
        };
    }
    SessionRequest {
        service_checks: Some(
            ids.iter()
                .map(|id| ServiceCheckRef {
                    id: id.clone(),
                    ..ServiceCheckRef::default()
                })
                .collect(),
        ),
        node_checks: Some(Vec::new()),
        checks: Some(ids),
        ..SessionRequest::default()
    }
}
