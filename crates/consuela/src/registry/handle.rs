//! [`Registry`]: the handle users hold; every method is a thin call into the
//! shared core or the read model.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use consuela_client::{Client, Consistency, WatchConfig};
use consuela_wire::{CheckId, SessionId};
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;
use tokio::sync::{OnceCell, watch};
use tokio_util::task::TaskTracker;

use super::core::Core;
use super::options::RegisterOptions;
use super::registration::{Registration, SpawnHandle};
use super::state::State;
use crate::config::Config;
use crate::directory::Directory;
use crate::discovery::Discovery;
use crate::error::{Error, LostReason};
use crate::event::{Event, Pulses};
use crate::holder::{Contact, Holder, Role};
use crate::member::Members;
use crate::messaging::{self, Mailbox};
use crate::name::Name;
use crate::watch::RegistryWatch;

/// A handle to a running registry. Cheap to clone; all clones share one
/// session. Dropping every handle without [`shutdown`](Self::shutdown) is
/// treated as a crash: renewals stop, every `lost()` fires, and Consul frees
/// the names once the session expires.
#[derive(Debug, Clone)]
pub struct Registry {
    core: Arc<Core>,
    /// `None` in the internal handles of background components, so that they
    /// do not keep the registry alive.
    _alive: Option<Arc<Alive>>,
    /// How to start this registry again, and the one that replaced it.
    lineage: Arc<Lineage>,
}

/// Starts a registry with the settings and handlers of the one it replaces.
/// Its argument is the first registration number the new one may use.
pub(crate) type Respawn =
    Arc<dyn Fn(u64) -> BoxFuture<'static, Result<Registry, Error>> + Send + Sync>;

/// What [`Registry::successor`] needs, shared by every handle of one registry.
struct Lineage {
    respawn: Respawn,
    next: OnceCell<Registry>,
}

impl fmt::Debug for Lineage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lineage")
            .field("next", &self.next.get().map(Registry::session))
            .finish_non_exhaustive()
    }
}

/// Fail-stops the registry when the last [`Registry`] handle goes.
#[derive(Debug)]
struct Alive(Arc<Core>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fail_stop(LostReason::Abandoned);
    }
}

impl Registry {
    /// The user handle of a freshly started core; `respawn` starts its
    /// successor.
    pub(crate) fn from_core(core: Arc<Core>, respawn: Respawn) -> Self {
        Self {
            _alive: Some(Arc::new(Alive(core.clone()))),
            core,
            lineage: Arc::new(Lineage {
                respawn,
                next: OnceCell::new(),
            }),
        }
    }

    /// A handle for background components that does not keep the registry
    /// alive (dropping every user handle still counts as a crash).
    pub(crate) fn downgrade(&self) -> Self {
        Self {
            core: self.core.clone(),
            _alive: None,
            lineage: self.lineage.clone(),
        }
    }

    /// The shared core, for the registry's other parts.
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// The event handlers.
    pub(crate) fn pulses(&self) -> &Pulses {
        &self.core.pulses
    }

    /// The tracker of user futures, which a shutdown stops before releasing
    /// any name.
    pub(crate) fn user_tasks(&self) -> &TaskTracker {
        &self.core.spawned
    }

    /// Why the registry stopped guaranteeing names.
    pub(crate) fn stopped_error(&self) -> Error {
        self.core.stopped_error()
    }

    /// `Ok` while running; otherwise the error every call answers.
    pub(crate) fn check_running(&self) -> Result<(), Error> {
        self.core.check_running()
    }

    /// Runs a background clean-up on the registry's task tracker, so that a
    /// shutdown waits for it.
    pub(crate) fn track(&self, future: impl Future<Output = ()> + Send + 'static) {
        self.core.tasks.spawn(future);
    }

    /// This member's name, stored with every registration.
    pub fn member(&self) -> &str {
        &self.core.member
    }

    /// The URL of this member's mail endpoint, stored in the records of its
    /// mailboxes; `None` without `[messaging]`.
    pub fn mail_url(&self) -> Option<&str> {
        self.core.mail_url.as_deref()
    }

    /// The Consul session id.
    pub fn session(&self) -> &SessionId {
        self.core.session.id()
    }

    /// The Consul client, for requests the registry does not wrap.
    pub fn client(&self) -> &Client {
        self.core.session.consul().client()
    }

    /// The registry's reads of who holds what, hiding names this member
    /// released but whose keys are not deleted yet.
    pub fn directory(&self) -> &Directory {
        &self.core.directory
    }

    /// The live members of the configuration's `[discovery]` service, when
    /// it has one; the receiver sees every change.
    pub fn discovery(&self) -> Option<watch::Receiver<Members>> {
        self.core
            .discovery
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(Discovery::members)
    }

    /// The check id of the configuration's `[presence]`, when it has one.
    pub fn presence_check(&self) -> Option<CheckId> {
        self.core
            .presence
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|p| p.check_id().clone())
    }

    /// The Consul key `name` is stored under (`<namespace>/<name>`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName) for a bad name.
    pub fn key(&self, name: impl AsRef<str>) -> Result<String, Error> {
        Ok(self.core.directory.key(&Name::new(name)?))
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        *self.core.state.borrow()
    }

    /// A receiver that sees every state change.
    pub fn subscribe(&self) -> watch::Receiver<State> {
        self.core.state.subscribe()
    }

    /// Resolves when the registry stops guaranteeing its names (fail-stop or
    /// shutdown).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn lost(&self) {
        self.core.lost.cancelled().await;
    }

    /// Names this member holds; registrations in flight are not counted.
    pub fn len(&self) -> usize {
        self.core.local.len()
    }

    /// Whether this member holds no name.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Zombies waiting for the reaper.
    pub fn reaper_queue(&self) -> usize {
        self.core.reaper.len()
    }

    /// How many event-handler calls panicked (and were caught).
    pub fn pulse_panics(&self) -> u64 {
        self.core.pulses.panics()
    }

    /// Registers `name` for `contact` with one Consul round trip.
    ///
    /// A name has one owner inside a member too: registering a name this
    /// member already holds fails with `AlreadyRegistered`, whatever the
    /// contact, so two [`spawn`](Self::spawn)s or singletons never share it.
    /// To hand a held name to a second task, use [`Registration::share`].
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::AlreadyRegistered`](crate::ErrorKind::AlreadyRegistered)
    ///   when another registration (of this member or another) holds `name`;
    /// - [`ErrorKind::LockDelay`](crate::ErrorKind::LockDelay) when Consul's
    ///   lock-delay blocks it (retry later, or use [`register_with`](Self::register_with));
    /// - [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName) for a bad name;
    /// - [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) /
    ///   [`ErrorKind::Unknown`](crate::ErrorKind::Unknown) when Consul did not
    ///   answer definitely (an unknown outcome is reconciled by the reaper);
    /// - [`ErrorKind::SessionLost`](crate::ErrorKind::SessionLost) /
    ///   [`ErrorKind::Shutdown`](crate::ErrorKind::Shutdown) once the registry stopped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped while the request is in flight,
    /// the name goes to the reaper, which removes it if it was acquired.
    pub async fn register(
        &self,
        name: impl AsRef<str>,
        contact: Contact,
    ) -> Result<Registration, Error> {
        let name = Name::new(name)?;
        self.core.register(&name, contact).await
    }

    /// Registers many names at once (at start-up, say): the registrations
    /// share transactions of up to `registry.max_batch` names, with one
    /// transaction's worth more than `registry.max_batches_in_flight` can
    /// carry in flight at a time, so that none waits in the queue long
    /// enough to time out. Answers in the order given, one per
    /// name, exactly as [`register`](Self::register) would.
    ///
    /// # Errors
    ///
    /// Each answer as [`register`](Self::register)'s.
    ///
    /// # Cancel safety
    ///
    /// As [`register`](Self::register): names in flight go to the reaper;
    /// names not yet sent are not registered.
    pub async fn register_many<N: AsRef<str>>(
        &self,
        names: impl IntoIterator<Item = (N, Contact)>,
    ) -> Vec<Result<Registration, Error>> {
        use futures_util::StreamExt;

        let registry = &self.core.config.registry;
        let in_flight = registry
            .max_batch
            .saturating_mul(registry.max_batches_in_flight.saturating_add(1));
        futures_util::stream::iter(names)
            .map(|(name, contact)| async move { self.register(name, contact).await })
            .buffered(in_flight)
            .collect()
            .await
    }

    /// Registers `name` with a mailbox of `M`, with one Consul round trip:
    /// the name's record carries this member's mail endpoint (when
    /// `[messaging]` runs one), and messages sent to the name
    /// ([`send`](Self::send), [`call`](Self::call), from any member) arrive
    /// in the returned [`Mailbox`] while the registration holds it. Without
    /// `[messaging]` the mailbox takes messages from this process only.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    ///
    /// # Cancel safety
    ///
    /// As [`register`](Self::register).
    pub async fn register_mailbox<M>(
        &self,
        name: impl AsRef<str>,
        contact: Contact,
    ) -> Result<(Registration, Mailbox<M>), Error>
    where
        M: DeserializeOwned + Send + 'static,
    {
        let name = Name::new(name)?;
        self.register_mailbox_once(&name, contact).await
    }

    /// [`register_mailbox`](Self::register_mailbox) with options, as
    /// [`register_with`](Self::register_with). Errors and cancel safety as
    /// [`register`](Self::register).
    pub async fn register_mailbox_with<M>(
        &self,
        name: impl AsRef<str>,
        contact: Contact,
        options: RegisterOptions,
    ) -> Result<(Registration, Mailbox<M>), Error>
    where
        M: DeserializeOwned + Send + 'static,
    {
        let name = Name::new(name)?;
        self.core
            .retry_lock_delay(options, || {
                self.register_mailbox_once(&name, contact.clone())
            })
            .await
    }

    async fn register_mailbox_once<M>(
        &self,
        name: &Name,
        contact: Contact,
    ) -> Result<(Registration, Mailbox<M>), Error>
    where
        M: DeserializeOwned + Send + 'static,
    {
        let capacity = self.core.config.messaging_settings().capacity;
        let (inbox, mailbox) = messaging::channel::<M>(capacity);
        let contact = Contact {
            mailbox: self.core.mail_url.clone(),
            ..contact
        };
        let registration = self
            .core
            .register_held(name, contact, Role::Name, Some(inbox))
            .await?;
        Ok((registration, mailbox))
    }

    /// Registers a key standing for `role` (a semaphore contender, a group
    /// membership) with one Consul round trip: the building block of
    /// semaphores and groups. Errors and cancel safety as
    /// [`register`](Self::register).
    pub(crate) async fn register_as(
        &self,
        name: &Name,
        contact: Contact,
        role: Role,
    ) -> Result<Registration, Error> {
        self.core.register_as(name, contact, role).await
    }

    /// [`register`](Self::register) with options: for instance waiting out
    /// the lock-delay a crashed holder left behind.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    ///
    /// # Cancel safety
    ///
    /// As [`register`](Self::register).
    pub async fn register_with(
        &self,
        name: impl AsRef<str>,
        contact: Contact,
        options: RegisterOptions,
    ) -> Result<Registration, Error> {
        let name = Name::new(name)?;
        self.core.register_with(&name, contact, options).await
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
        contact: Contact,
        future: F,
    ) -> Result<SpawnHandle<F::Output>, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let registration = self.register(name, contact).await?;
        Ok(SpawnHandle::spawn(&self.core.spawned, registration, future))
    }

    /// Who holds `name`: from memory for this member's names, otherwise one
    /// Consul read with default consistency.
    ///
    /// Never returns a holder of this member that is no longer registered
    /// (a dead local holder still waiting for the reaper).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName); the outcome
    /// kinds when Consul cannot be read;
    /// [`ErrorKind::Foreign`](crate::ErrorKind::Foreign) when the key holds a
    /// value this library did not write.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn whereis(&self, name: impl AsRef<str>) -> Result<Option<Holder>, Error> {
        self.whereis_with(name, Consistency::Default).await
    }

    /// [`whereis`](Self::whereis) with a chosen read consistency; errors and
    /// cancel safety as there.
    pub async fn whereis_with(
        &self,
        name: impl AsRef<str>,
        consistency: Consistency,
    ) -> Result<Option<Holder>, Error> {
        let name = Name::new(name)?;
        self.core.check_running()?;
        if let Some(local) = self.core.local.get(&name) {
            return Ok(Some(local));
        }
        let holder = self.core.directory.holder(&name, consistency).await?;
        self.core.reaper.kick();
        Ok(holder)
    }

    /// This member's own registration of `name`, from memory (no I/O).
    pub fn whereis_local(&self, name: &Name) -> Option<Holder> {
        self.core.local.get(name)
    }

    /// Every name held cluster-wide under `prefix` (`""` for all), with one
    /// Consul read, sorted by name.
    ///
    /// # Errors
    ///
    /// The outcome kinds when Consul cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(Name, Holder)>, Error> {
        self.core.check_running()?;
        let holders = self.core.directory.list(prefix).await?;
        self.core.reaper.kick();
        Ok(holders)
    }

    /// A live stream of ownership changes under `prefix` (`""` for all),
    /// starting with every name already held, driven by blocking queries.
    pub fn watch(&self, prefix: &str) -> RegistryWatch {
        self.watch_with(prefix, WatchConfig::default())
    }

    /// [`watch`](Self::watch) with explicit blocking-query settings.
    pub fn watch_with(&self, prefix: &str, config: WatchConfig) -> RegistryWatch {
        self.core.directory.watch_with(prefix, config)
    }

    /// The names this member holds under `prefix`, from memory, sorted.
    pub fn select(&self, prefix: &str) -> Vec<(Name, Holder)> {
        self.core.local.select(prefix)
    }

    /// Releases every name, drains the reaper, and destroys the session, so
    /// successors need not wait out the lock-delay. Spawned futures are
    /// aborted first, so no successor ever overlaps them.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SessionLost`](crate::ErrorKind::SessionLost) when the
    /// registry had already fail-stopped (nothing is released then: Consul
    /// frees the names when the session expires). Failing to destroy the
    /// session is reported as an event only.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a cancelled shutdown leaves the registry shutting down.
    pub async fn shutdown(&self) -> Result<(), Error> {
        let result = self.core.shutdown().await;
        if let Some(next) = self.lineage.next.get() {
            // Boxed: a successor may have a successor of its own.
            return Box::pin(next.shutdown()).await;
        }
        result
    }

    /// The registry to use now: this one while it runs; after it lost its
    /// session, the one that goes on in its place, started on the first
    /// call with this one's configuration, client settings and event
    /// handlers (a new session holding no name; the presence, if any, is
    /// registered again). Every caller gets the same successor; shutting
    /// this registry down shuts it down too. Names held before the loss stay
    /// lost: their guards answer as before.
    ///
    /// Standbys use it to go on waiting after their session expired during
    /// a Consul outage (a leader election longer than the TTL's margin);
    /// only a holder must stop at a loss.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SessionLost`](crate::ErrorKind::SessionLost) when the
    /// loss is not one to recover from ([`LostReason::is_recoverable`]),
    /// [`ErrorKind::Shutdown`](crate::ErrorKind::Shutdown) after a shutdown,
    /// and the outcome kinds when Consul cannot create the new session yet
    /// (call again later).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled call leaves no successor, and the next call
    /// starts one. As with [`RegistryBuilder::start`](crate::registry::RegistryBuilder::start),
    /// a session Consul created for a cancelled call is left to expire.
    pub async fn successor(&self) -> Result<Registry, Error> {
        match self.state() {
            State::Running => return Ok(self.clone()),
            State::Lost(reason) if reason.is_recoverable() => {}
            _ => return Err(self.stopped_error()),
        }
        let next = self
            .lineage
            .next
            .get_or_try_init(|| async {
                // The lost registry's presence goes first: the successor
                // registers the same service.
                let _ = self.core.shutdown().await;
                let first_rid = self.core.next_rid.load(Ordering::Relaxed);
                let next = (self.lineage.respawn)(first_rid).await?;
                next.pulses().emit(Event::Replaced {
                    previous: self.session().clone(),
                    session: next.session().clone(),
                });
                Ok::<_, Error>(next)
            })
            .await?;
        // Boxed: the successor may have lost its session too.
        Box::pin(next.successor()).await
    }

    /// The newest registry of this one's line: this one, or the last
    /// [`successor`](Self::successor) started after it. Starts nothing.
    pub fn latest(&self) -> Registry {
        let mut latest = self.clone();
        while let Some(next) = latest.lineage.next.get() {
            latest = next.clone();
        }
        latest
    }
}
