//! [`RegistryBuilder`]: event handlers and client settings, then the start:
//! the session, the keeper, the reaper and the session watch.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use consuela_client::{Client, ClientConfig, RequestHook};
use consuela_wire::{Behavior, CheckId, ServiceCheckRef, SessionRequest};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::core::Core;
use super::handle::{Registry, Respawn};
use super::lifecycle::supervise;
use super::local::{Local, Mine};
use super::state::State;
use crate::batch::Limits;
use crate::config::Config;
use crate::consul::Consul;
use crate::directory::Directory;
use crate::discovery::Discovery;
use crate::error::{Error, LostReason, Task};
use crate::event::{Component, Event, Pulse, Pulses, TracingPulse};
use crate::keeper::{self, Deadline, Keeper};
use crate::messaging::{Bound, Courier};
use crate::name::KeySpace;
use crate::presence::Presence;
use crate::read::View;
use crate::reaper;

/// Builds a [`Registry`] with event handlers.
#[derive(Clone)]
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
    fn new(config: Config) -> Self {
        Self {
            config,
            pulses: Pulses::default(),
            client: None,
            ignore_deadline: false,
        }
    }

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
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for an invalid
    /// configuration; the outcome kinds when Consul cannot create the session
    /// (a registry cannot start without Consul, as in the original).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if cancelled after Consul created the session, the
    /// session is left to expire on its own.
    pub async fn start(self) -> Result<Registry, Error> {
        self.start_from(1).await
    }

    /// [`start`](Self::start), numbering registrations from `first_rid` (a
    /// successor goes on from where the registry it replaces stopped, so
    /// that registration ids stay unique within the member).
    async fn start_from(self, first_rid: u64) -> Result<Registry, Error> {
        let respawn = respawn(self.clone());
        let config = self.config.validate()?;
        let mut pulses = self.pulses;
        if pulses.is_empty() {
            pulses.add(None, Arc::new(TracingPulse));
        }
        #[cfg(feature = "metrics")]
        pulses.add(None, Arc::new(crate::metrics::MetricsPulse));
        let mut client_config = match self.client {
            Some(c) => c,
            None => config.client_config(),
        };
        let hooks = Arc::new(HookGuard::default());
        client_config.on_request = client_config
            .on_request
            .take()
            .map(|hook| hooks.isolate(hook));
        let consul = Consul::new(Client::new(client_config)?);
        let keys = KeySpace::new(&config.namespace)?;
        let member = config.member_name();
        let mut config = config;
        // With [messaging] the courier is built now, so that bad TLS files
        // stop the start; without, on the first send to another member.
        let courier = OnceLock::new();
        if let Some(messaging) = &config.messaging {
            let _ = courier.set(Courier::new(messaging)?);
        }
        // Bound before anything is created in Consul, so that a taken port
        // leaves nothing behind.
        let mail = match &config.messaging {
            Some(messaging) => Some(Bound::bind(messaging).await?),
            None => None,
        };

        // The presence goes first: the session may be bound to its check.
        let presence = match config.presence.clone() {
            Some(settings) => {
                let client = consul.client().clone();
                let presence =
                    Presence::start_with(client, &member, settings, pulses.clone()).await?;
                if config.session.bind_presence {
                    presence.bind(&mut config);
                }
                Some(presence)
            }
            None => None,
        };
        let sent = Instant::now();
        let limits = Limits::new(
            config.registry.max_batch,
            config.registry.max_batches_in_flight,
        );
        let session = match consul
            .create_session(
                &session_request(&config),
                limits,
                config.registry.registration_timeout,
            )
            .await
        {
            Ok(session) => session,
            Err(error) => {
                if let Some(presence) = presence {
                    let _ = presence.shutdown().await;
                }
                return Err(error);
            }
        };
        let discovery = config
            .discovery
            .clone()
            .map(|settings| Discovery::start(consul.client().clone(), settings, pulses.clone()));
        let local = Arc::new(Local::default());
        let mine = Mine {
            member: member.clone(),
            session: session.id().clone(),
            local: local.clone(),
        };
        let directory = Directory::with_view(consul, View::new(keys).with_liveness(Arc::new(mine)));

        let stop = CancellationToken::new();
        let (reaper, reaper_task) = reaper::spawn(reaper::Reaper {
            session: session.clone(),
            directory: directory.clone(),
            pulses: pulses.clone(),
            policy: config.reaper.retry.clone(),
            late_apply_window: config.reaper.late_apply_window,
            stop: stop.clone(),
        });
        let deadline = Deadline::new(
            sent,
            config.session.ttl,
            config.keeper.margin,
            config.keeper.interval,
        );
        let keeper = Keeper {
            session: session.clone(),
            deadline,
            pulses: pulses.clone(),
            reaper: reaper.clone(),
            stop: stop.clone(),
            ignore_deadline: self.ignore_deadline,
        };
        pulses.emit(Event::Started {
            session: session.id().clone(),
            ttl: config.session.ttl,
        });
        let core = Arc::new(Core {
            session,
            directory,
            member,
            config,
            next_rid: AtomicU64::new(first_rid),
            local,
            lost: CancellationToken::new(),
            stop,
            state: watch::Sender::new(State::Running),
            reaper,
            pulses,
            tasks: TaskTracker::new(),
            spawned: TaskTracker::new(),
            presence: Mutex::new(presence),
            discovery: Mutex::new(discovery),
            mail_url: mail.as_ref().map(|bound| bound.url().to_owned()),
            endpoint: Mutex::new(None),
            courier,
        });
        if let Some(bound) = mail {
            let endpoint = bound.serve(Arc::new(Arc::downgrade(&core)), core.pulses.clone());
            *core.endpoint.lock().unwrap_or_else(|e| e.into_inner()) = Some(endpoint);
        }
        hooks.guard(&core);
        // Each background task fail-stops the registry when it ends with a
        // reason or panics, but never keeps it alive.
        let lost = |core: &Arc<Core>| {
            let weak = Arc::downgrade(core);
            move |reason| {
                if let Some(core) = weak.upgrade() {
                    core.fail_stop(reason);
                }
            }
        };
        let reaper_task = async move {
            (reaper_task.await == reaper::Exit::GaveUp).then_some(LostReason::ReaperExhausted)
        };
        core.tasks
            .spawn(supervise(Task::Reaper, reaper_task, lost(&core)));
        if core.config.keeper.watch_session {
            let watch = keeper::watch_session(
                core.session.clone(),
                core.config.session.ttl,
                core.stop.clone(),
            );
            core.tasks
                .spawn(supervise(Task::SessionWatch, watch, lost(&core)));
        }
        core.tasks
            .spawn(supervise(Task::Keeper, keeper.run(), lost(&core)));
        Ok(Registry::from_core(core, respawn))
    }
}

/// Starts a registry again from the builder that started the first one.
fn respawn(builder: RegistryBuilder) -> Respawn {
    Arc::new(move |first_rid| Box::pin(builder.clone().start_from(first_rid)))
}

impl Registry {
    /// A builder, to add event handlers before starting.
    pub fn builder(config: Config) -> RegistryBuilder {
        RegistryBuilder::new(config)
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
}

/// Runs a user's request hooks so that a panic in one never unwinds into the
/// registry's own tasks: it fail-stops the registry instead.
#[derive(Default)]
struct HookGuard {
    core: OnceLock<Weak<Core>>,
    /// A hook panicked before the registry existed (while the session was
    /// being created): it fail-stops as soon as it does.
    panicked: AtomicBool,
}

impl HookGuard {
    fn isolate(self: &Arc<Self>, hook: RequestHook) -> RequestHook {
        let guard = self.clone();
        RequestHook::new(move |event| {
            if catch_unwind(AssertUnwindSafe(|| hook.call(event))).is_err() {
                guard.panicked.store(true, Ordering::SeqCst);
                if let Some(core) = guard.core.get().and_then(Weak::upgrade) {
                    core.fail_stop(LostReason::Panicked(Task::RequestHook));
                }
            }
        })
    }

    fn guard(&self, core: &Arc<Core>) {
        let _ = self.core.set(Arc::downgrade(core));
        if self.panicked.load(Ordering::SeqCst) {
            core.fail_stop(LostReason::Panicked(Task::RequestHook));
        }
    }
}

/// The member's session: named after the namespace, on its node, deleting
/// its keys when invalidated.
fn session_request(config: &Config) -> SessionRequest {
    SessionRequest {
        name: Some(config.session_name().to_owned()),
        node: Some(config.nodename.clone().into()),
        ttl: Some(crate::duration::format(config.session.ttl)),
        lock_delay: Some(consuela_wire::GoDuration::from_std(
            config.session.lock_delay,
        )),
        behavior: Some(Behavior::Delete),
        ..session_checks(&config.session.checks)
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
