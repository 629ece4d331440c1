//! Cluster singletons: exactly one member at a time runs a future.
//!
//! Every member that calls [`Registry::singleton`](crate::Registry::singleton)
//! competes for one name. The winner runs `factory()`'s future while it holds
//! the name; the others stand by, watching the key with blocking queries (not
//! polling), and try to take over the moment it is free. When the leader's
//! future ends its name is released and the member stands by again; when its
//! ownership is lost the future is dropped first.
//!
//! A member whose session is lost (say Consul had no leader for longer than
//! the keeper's margin) does not give up: a leader's future is dropped, as
//! at any loss, and the member stands by again on the registry's
//! [`successor`](crate::Registry::successor), a new session, retrying with
//! the singleton's backoff while Consul cannot create one
//! ([`Event::RecoveryDeferred`]). It stops competing only when stopped, when
//! the registry shuts down, or when the loss is final
//! ([`LostReason::is_recoverable`]).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use consuela_client::WatchConfig;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

pub use crate::config::SingletonConfig;
use crate::error::{Error, ErrorKind, LostReason};
use crate::event::Event;
use crate::holder::{Contact, Holder};
use crate::messaging::Mailbox;
use crate::name::Name;
use crate::registry::{RegisterOptions, Registration, Registry};
use crate::retry::Retry;
use crate::time::Timestamp;
use crate::token::FencingToken;

/// What this member is doing for a singleton.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Leadership {
    /// Competing for the name for the first time.
    Starting,
    /// Running the future.
    Leader {
        /// When this member took the lead.
        since: Timestamp,
        /// The registration's fencing token.
        fencing_token: FencingToken,
    },
    /// Standing by.
    Standby {
        /// The current leader, when known.
        leader: Option<Holder>,
    },
    /// No longer competing.
    Stopped(StopReason),
}

/// Why a singleton stopped competing.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StopReason {
    /// [`SingletonHandle::stop`] was called.
    Requested,
    /// The registry lost its session for good: every handle was dropped, or
    /// something panicked (losses Consul causes are recovered from).
    Lost(LostReason),
    /// The registry shut down.
    Shutdown,
    /// The retry policy ran out and `give_up` was set.
    RetriesExhausted,
    /// The leader's future (or the factory making it) panicked; its name
    /// was released and this member stopped competing.
    Panicked,
}

/// Controls one member's participation in a singleton.
#[derive(Debug)]
pub struct SingletonHandle {
    state: watch::Receiver<Leadership>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl SingletonHandle {
    /// The current leadership state.
    pub fn leadership(&self) -> Leadership {
        self.state.borrow().clone()
    }

    /// A receiver of every leadership change.
    pub fn subscribe(&self) -> watch::Receiver<Leadership> {
        self.state.clone()
    }

    /// Whether this member leads right now.
    pub fn is_leader(&self) -> bool {
        matches!(*self.state.borrow(), Leadership::Leader { .. })
    }

    /// Stops competing: a running future is dropped and the name released.
    /// Returns once that has happened.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the stop is requested at once; cancelling only stops the wait.
    pub async fn stop(mut self) {
        self.stop.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for SingletonHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// How a singleton takes its name, and what besides the registration the
/// leader's future gets (a mailbox, or nothing).
type Claim<H> = Box<
    dyn FnMut(
            Registry,
            Name,
            Contact,
            RegisterOptions,
        ) -> BoxFuture<'static, Result<(Registration, H), Error>>
        + Send,
>;

pub(crate) fn start<H, F, Fut>(
    registry: Registry,
    name: Name,
    contact: Contact,
    config: SingletonConfig,
    claim: Claim<H>,
    factory: F,
) -> SingletonHandle
where
    H: Send + 'static,
    F: FnMut(H) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = watch::channel(Leadership::Starting);
    let stop = CancellationToken::new();
    // On the registry's tracker of user futures, so that a shutdown stops
    // the leader's future before it releases the name.
    let tracker = registry.user_tasks().clone();
    let run = Run {
        registry,
        name,
        contact,
        config,
        state: Arc::new(tx),
        stop: stop.clone(),
    };
    let task = tracker.spawn(run.run(claim, factory));
    SingletonHandle {
        state: rx,
        stop,
        task,
    }
}

struct Run {
    registry: Registry,
    name: Name,
    contact: Contact,
    config: SingletonConfig,
    state: Arc<watch::Sender<Leadership>>,
    stop: CancellationToken,
}

impl Run {
    async fn run<H, F, Fut>(self, mut claim: Claim<H>, mut factory: F)
    where
        H: Send + 'static,
        F: FnMut(H) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        // A panicking leader drops its registration while unwinding (which
        // releases the name); this member must not keep saying it leads.
        let reason = AssertUnwindSafe(self.compete(&mut claim, &mut factory))
            .catch_unwind()
            .await
            .unwrap_or(StopReason::Panicked);
        self.registry.pulses().emit(Event::SingletonStopped {
            name: self.name.clone(),
        });
        self.state.send_replace(Leadership::Stopped(reason));
    }

    async fn compete<H, F, Fut>(&self, claim: &mut Claim<H>, factory: &mut F) -> StopReason
    where
        F: FnMut(H) -> Fut,
        Fut: Future<Output = ()>,
    {
        // Replaced by its successor when it loses its session.
        let mut registry = self.registry.clone();
        let mut retry = self.config.retry.start();
        let mut failing_since: Option<Instant> = None;
        // When the standby last saw the name become free, to aim its first
        // attempt after a lock-delay at the moment the delay ends.
        let mut options = RegisterOptions::new().wait_out_lock_delay();
        loop {
            if self.stop.is_cancelled() {
                return StopReason::Requested;
            }
            let attempt = tokio::select! {
                biased;
                () = self.stop.cancelled() => return StopReason::Requested,
                attempt = claim(registry.clone(), self.name.clone(), self.contact.clone(), options) => attempt,
            };
            match attempt {
                Ok((registration, held)) => {
                    retry.reset();
                    failing_since = None;
                    options = RegisterOptions::new().wait_out_lock_delay();
                    // A shutdown waits for the future to be dropped before it
                    // releases the name.
                    let running = registry.user_tasks().token();
                    let fencing_token = registration.fencing_token();
                    self.state.send_replace(Leadership::Leader {
                        since: Timestamp::now(),
                        fencing_token,
                    });
                    registry.pulses().emit(Event::LeaderStarted {
                        name: self.name.clone(),
                        fencing_token,
                    });
                    let future = factory(held);
                    let ended = tokio::select! {
                        biased;
                        () = registration.lost() => None,
                        () = self.stop.cancelled() => Some(false),
                        () = future => Some(true),
                    };
                    // The future is dropped here, before the name is released.
                    drop(running);
                    registry.pulses().emit(Event::LeaderStopped {
                        name: self.name.clone(),
                    });
                    match ended {
                        None => {
                            drop(registration);
                            // The leader stopped at the loss; the member
                            // stands by again with a new session.
                            self.state
                                .send_replace(Leadership::Standby { leader: None });
                            if let Err(reason) = self.recover(&mut registry).await {
                                return reason;
                            }
                        }
                        Some(finished) => {
                            let _ = registration.unregister().await;
                            if !finished {
                                return StopReason::Requested;
                            }
                            // Leave the others a chance before competing again.
                            self.state
                                .send_replace(Leadership::Standby { leader: None });
                            tokio::select! {
                                () = self.stop.cancelled() => return StopReason::Requested,
                                () = sleep(self.config.retry.delay) => {}
                            }
                        }
                    }
                }
                Err(e) if e.is_conflict() => {
                    retry.reset();
                    failing_since = None;
                    let leader = e.holder().cloned();
                    self.state.send_replace(Leadership::Standby { leader });
                    match self.await_free(&registry).await {
                        Some(at) => options = options.freed_at(at),
                        None => return StopReason::Requested,
                    }
                }
                Err(e) if e.is_fatal() => {
                    if let Err(reason) = self.recover(&mut registry).await {
                        return reason;
                    }
                }
                Err(_) => {
                    // Lock-delay or Consul trouble: back off.
                    let Some(wait) = self.backoff(&mut retry, &mut failing_since) else {
                        return StopReason::RetriesExhausted;
                    };
                    registry.pulses().emit(Event::TakeoverDeferred {
                        name: self.name.clone(),
                        retry_in: wait,
                    });
                    tokio::select! {
                        () = self.stop.cancelled() => return StopReason::Requested,
                        () = sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// The pause before the next attempt, or `None` when the retry policy
    /// ran out and the singleton is to give up.
    fn backoff(&self, retry: &mut Retry, failing_since: &mut Option<Instant>) -> Option<Duration> {
        let now = Instant::now();
        let since = *failing_since.get_or_insert(now);
        match retry.next_wait(now - since) {
            Some(wait) => Some(wait),
            None if self.config.give_up => None,
            None => Some(
                self.config
                    .retry
                    .max_delay
                    .unwrap_or(self.config.retry.delay),
            ),
        }
    }

    /// The registry lost its session or shut down: go on with its successor
    /// (a new session), trying again with backoff while Consul cannot create
    /// one. `Err` when the loss is final (a shutdown, a dropped registry, a
    /// panic) or the singleton was stopped.
    async fn recover(&self, registry: &mut Registry) -> Result<(), StopReason> {
        let mut retry = self.config.retry.start();
        let mut failing_since = None;
        loop {
            let next = tokio::select! {
                biased;
                () = self.stop.cancelled() => return Err(StopReason::Requested),
                next = registry.successor() => next,
            };
            match next {
                Ok(next) => {
                    *registry = next;
                    return Ok(());
                }
                Err(e) if e.is_fatal() => return Err(stop_reason(&e)),
                Err(error) => {
                    let Some(wait) = self.backoff(&mut retry, &mut failing_since) else {
                        return Err(StopReason::RetriesExhausted);
                    };
                    registry.pulses().emit(Event::RecoveryDeferred {
                        name: self.name.clone(),
                        error,
                        retry_in: wait,
                    });
                    tokio::select! {
                        () = self.stop.cancelled() => return Err(StopReason::Requested),
                        () = sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// Blocks (with blocking queries) until the name has no owner. Returns
    /// when it saw it free, or `None` when stopped.
    async fn await_free(&self, registry: &Registry) -> Option<Instant> {
        let directory = registry.directory();
        let config = WatchConfig::default().wait(self.config.watch_wait);
        let mut answers = directory.watch_key(&self.name, config);
        loop {
            let answer = tokio::select! {
                biased;
                () = self.stop.cancelled() => return None,
                () = registry.lost() => return Some(Instant::now()),
                answer = answers.next() => answer?,
            };
            let Ok(answer) = answer else { continue };
            let holder = match &answer.value {
                None => Ok(None),
                Some(entry) => directory.decode(&self.name, entry),
            };
            match holder {
                // Free, or only held by a registration of ours that is gone.
                Ok(None) => return Some(Instant::now()),
                // A value we did not write: held, by someone unknown.
                Err(_) => {}
                Ok(Some(leader)) => {
                    self.state.send_if_modified(|s| {
                        let changed = !matches!(s, Leadership::Standby { leader: Some(l) } if l.fencing_token == leader.fencing_token);
                        if changed {
                            *s = Leadership::Standby { leader: Some(leader.clone()) };
                        }
                        changed
                    });
                }
            }
        }
    }
}

/// Why a singleton stops when the registry answers `error`.
fn stop_reason(error: &Error) -> StopReason {
    match error.kind() {
        ErrorKind::SessionLost(reason) => StopReason::Lost(*reason),
        _ => StopReason::Shutdown,
    }
}

impl Registry {
    /// [`singleton`](Self::singleton) with the settings of the configuration's
    /// `[leader]` section.
    ///
    /// Must be called within a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`] for a bad name.
    pub fn leader<F, Fut>(
        &self,
        name: impl AsRef<str>,
        contact: Contact,
        factory: F,
    ) -> Result<SingletonHandle, Error>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let config = self.config().leader.clone();
        self.singleton(name, contact, config, factory)
    }

    /// Joins the competition for the singleton `name`: on every member that
    /// calls this, exactly one at a time runs `factory()`'s future.
    ///
    /// Must be called within a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`] for a bad name.
    pub fn singleton<F, Fut>(
        &self,
        name: impl AsRef<str>,
        contact: Contact,
        config: SingletonConfig,
        factory: F,
    ) -> Result<SingletonHandle, Error>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = Name::new(name)?;
        let mut factory = factory;
        let claim: Claim<()> = Box::new(|registry, name, contact, options| {
            Box::pin(async move {
                let registration = registry.register_with(name, contact, options).await?;
                Ok((registration, ()))
            })
        });
        Ok(start(
            self.downgrade(),
            name,
            contact,
            config,
            claim,
            move |()| factory(),
        ))
    }

    /// [`singleton`](Self::singleton) whose name comes with a mailbox of
    /// `M` ([`register_mailbox`](Self::register_mailbox)): the leader's
    /// future gets it and the registration's fencing token, so that
    /// messages sent to the name reach whichever member leads. Each
    /// leadership gets a fresh mailbox; messages the last one held when it
    /// ended are gone with it.
    ///
    /// Must be called within a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidName`] for a bad name.
    pub fn mailbox_singleton<M, F, Fut>(
        &self,
        name: impl AsRef<str>,
        contact: Contact,
        config: SingletonConfig,
        factory: F,
    ) -> Result<SingletonHandle, Error>
    where
        M: DeserializeOwned + Send + 'static,
        F: FnMut(Mailbox<M>, FencingToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = Name::new(name)?;
        let mut factory = factory;
        let claim: Claim<(Mailbox<M>, FencingToken)> =
            Box::new(|registry, name, contact, options| {
                Box::pin(async move {
                    let (registration, mailbox) = registry
                        .register_mailbox_with(name, contact, options)
                        .await?;
                    let token = registration.fencing_token();
                    Ok((registration, (mailbox, token)))
                })
            });
        Ok(start(
            self.downgrade(),
            name,
            contact,
            config,
            claim,
            move |(mailbox, token)| factory(mailbox, token),
        ))
    }
}
