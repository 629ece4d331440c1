//! Typed events and the [`Pulse`] handlers that receive them.
//!
//! Every component (registry, keeper, reaper) reports what it does as an
//! [`Event`]. Handlers run synchronously on the emitting task, so they must be
//! quick; a handler that panics is caught and counted and never takes a
//! component down. For slow processing, forward events with [`channel`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::{Error, LostReason};
use crate::holder::RegistrationId;
use crate::member::Member;
use crate::name::Name;
use crate::token::FencingToken;

/// The component an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Component {
    /// Registrations, lookups and the registry's lifecycle.
    Registry,
    /// The session keeper.
    Keeper,
    /// The zombie reaper.
    Reaper,
    /// Cluster singletons.
    Singleton,
    /// Presence and discovery.
    Discovery,
    /// Named mailboxes: the mail endpoint and deliveries to other members.
    Messaging,
}

/// Something a component did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The registry created its session and started.
    Started {
        /// The Consul session id.
        session: consuela_wire::SessionId,
        /// The session TTL.
        ttl: Duration,
    },
    /// A name was acquired.
    Registered {
        /// The name.
        name: Name,
        /// The new owner.
        id: RegistrationId,
        /// The key's `ModifyIndex` at acquisition.
        fencing_token: FencingToken,
        /// How long the Consul round trip took.
        latency: Duration,
    },
    /// A registration was refused because another process holds the name.
    Conflict {
        /// The name.
        name: Name,
        /// The holder, when it could be read.
        holder: Option<RegistrationId>,
    },
    /// A registration was refused because of Consul's lock-delay.
    LockDelayed {
        /// The name.
        name: Name,
    },
    /// A registration failed; an unknown outcome also enqueues a zombie.
    RegisterFailed {
        /// The name.
        name: Name,
        /// Why.
        error: Error,
    },
    /// A name was released.
    Unregistered {
        /// The name.
        name: Name,
        /// The owner that released it.
        id: RegistrationId,
        /// Someone (even we) had re-acquired the name since: nothing to delete.
        stale: bool,
        /// How long the Consul round trip took.
        latency: Duration,
    },
    /// A release failed; the name went to the reaper.
    UnregisterFailed {
        /// The name.
        name: Name,
        /// Why.
        error: Error,
    },
    /// The session was renewed.
    Renewed {
        /// The TTL Consul answered with (it may raise it).
        ttl: Duration,
        /// Time left until the new local deadline.
        deadline_in: Duration,
        /// How long the renew took.
        latency: Duration,
    },
    /// A renew failed; the keeper keeps trying until its deadline.
    RenewFailed {
        /// Why.
        error: Error,
        /// Time left until the local deadline.
        deadline_in: Duration,
    },
    /// The session was destroyed on shutdown.
    SessionDestroyed,
    /// A registration whose removal failed, or whose outcome was unknown,
    /// was queued for the reaper.
    ZombieEnqueued {
        /// The name.
        name: Name,
        /// The registration.
        id: RegistrationId,
        /// Queue length after enqueueing.
        queue: usize,
    },
    /// The reaper removed a zombie (or found it already gone).
    ZombieReaped {
        /// The name.
        name: Name,
        /// The registration.
        id: RegistrationId,
        /// Someone had re-acquired the name since: nothing to delete.
        stale: bool,
        /// Queue length after removal.
        queue: usize,
    },
    /// The reaper failed to remove a zombie.
    ReapFailed {
        /// The name.
        name: Name,
        /// Why.
        error: Error,
        /// The next attempt, or `None` when the policy gave up.
        retry_in: Option<Duration>,
    },
    /// This member took the lead of a singleton and started its future.
    LeaderStarted {
        /// The singleton's name.
        name: Name,
        /// The registration's fencing token.
        fencing_token: FencingToken,
    },
    /// This member's singleton future stopped (ended, stopped or lost).
    LeaderStopped {
        /// The singleton's name.
        name: Name,
    },
    /// A takeover attempt was refused (lock-delay, Consul trouble) and will
    /// be retried.
    TakeoverDeferred {
        /// The singleton's name.
        name: Name,
        /// When the next attempt comes.
        retry_in: Duration,
    },
    /// This member stopped competing for a singleton.
    SingletonStopped {
        /// The singleton's name.
        name: Name,
    },
    /// A presence was registered with Consul.
    PresenceStarted {
        /// The service name.
        service: String,
        /// The check id.
        check: String,
    },
    /// Consul's TCP check reached our presence listener.
    PresenceChecked {
        /// The service name.
        service: String,
        /// Who connected.
        peer: std::net::SocketAddr,
    },
    /// A member of a discovered service became live.
    MemberUp {
        /// The member.
        member: Member,
    },
    /// A member of a discovered service left or went unhealthy.
    MemberDown {
        /// The member.
        member: Member,
    },
    /// A discovery read failed; the watch backs off and goes on.
    DiscoveryFailed {
        /// Why.
        error: Error,
    },
    /// A slot of a semaphore was taken (its `.lock` lists our session).
    SlotTaken {
        /// The semaphore.
        semaphore: Name,
        /// Its limit.
        limit: u32,
        /// The slot's fencing token (its contender key's `ModifyIndex`).
        fencing_token: FencingToken,
        /// From the contender key's acquisition to the slot, waiting included.
        latency: Duration,
    },
    /// A slot was refused: the semaphore is full (without waiting), the
    /// limits disagree, or `.lock` is not a semaphore's.
    SlotRefused {
        /// The semaphore.
        semaphore: Name,
        /// Why.
        error: Error,
    },
    /// A slot was given back with [`Slot::release`](crate::semaphore::Slot::release).
    SlotReleased {
        /// The semaphore.
        semaphore: Name,
        /// The slot's fencing token.
        fencing_token: FencingToken,
    },
    /// The registry fail-stopped: every `lost()` fired.
    Lost {
        /// Why.
        reason: LostReason,
    },
    /// The registry shut down cleanly.
    Shutdown,
    /// Consul has no leader (an election): a registration waits for one,
    /// retrying until `registry.registration_timeout` runs out. Consul
    /// refuses before applying anything then, so a retry is safe.
    AwaitingLeader {
        /// The name being registered.
        name: Name,
        /// How long until the registration gives up.
        gives_up_in: Duration,
    },
    /// A registry that lost its session was replaced by a new one
    /// ([`Registry::successor`](crate::Registry::successor)); emitted by the
    /// new one.
    Replaced {
        /// The lost session.
        previous: consuela_wire::SessionId,
        /// The new session.
        session: consuela_wire::SessionId,
    },
    /// A singleton standby lost its session and could not start a new one
    /// yet; it tries again.
    RecoveryDeferred {
        /// The singleton's name.
        name: Name,
        /// Why the new session could not start.
        error: Error,
        /// When the next attempt comes.
        retry_in: Duration,
    },
    /// This member's mail endpoint listens (`[messaging]`).
    MailEndpointStarted {
        /// The URL other members reach it at.
        url: String,
    },
    /// The mail endpoint refused a message without taking it.
    MailRefused {
        /// The name it was sent to.
        name: Name,
        /// The refusal, as on the wire: `moved`, `stale`, `full`, `closed`,
        /// `bad_message`, `too_large`, `stopped`, `no_mailbox`; for a call
        /// delivered but not answered, `timeout` or `no_reply`.
        reason: &'static str,
    },
    /// A message for a name held by another member was not delivered.
    MailUndelivered {
        /// The name.
        name: Name,
        /// Why (its kind says whether it may have arrived all the same).
        error: Error,
    },
}

impl Event {
    /// The component that emits this event.
    pub fn component(&self) -> Component {
        match self {
            Self::Renewed { .. } | Self::RenewFailed { .. } | Self::SessionDestroyed => {
                Component::Keeper
            }
            Self::ZombieEnqueued { .. } | Self::ZombieReaped { .. } | Self::ReapFailed { .. } => {
                Component::Reaper
            }
            Self::LeaderStarted { .. }
            | Self::LeaderStopped { .. }
            | Self::TakeoverDeferred { .. }
            | Self::RecoveryDeferred { .. }
            | Self::SingletonStopped { .. } => Component::Singleton,
            Self::PresenceStarted { .. }
            | Self::PresenceChecked { .. }
            | Self::MemberUp { .. }
            | Self::MemberDown { .. }
            | Self::DiscoveryFailed { .. } => Component::Discovery,
            Self::MailEndpointStarted { .. }
            | Self::MailRefused { .. }
            | Self::MailUndelivered { .. } => Component::Messaging,
            _ => Component::Registry,
        }
    }
}

/// Receives events. Implemented for every `Fn(&Event) + Send + Sync`.
pub trait Pulse: Send + Sync + 'static {
    /// Handles one event. Must be quick: it runs on the emitting task.
    fn handle(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync + 'static> Pulse for F {
    fn handle(&self, event: &Event) {
        self(event);
    }
}

/// The default handler: logs every event through `tracing`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingPulse;

impl Pulse for TracingPulse {
    fn handle(&self, event: &Event) {
        match event {
            Event::Lost { reason } => tracing::error!(%reason, "registry lost its session"),
            Event::AwaitingLeader { name, gives_up_in } => {
                tracing::warn!(%name, ?gives_up_in, "Consul has no leader; waiting");
            }
            Event::Replaced { previous, session } => {
                tracing::warn!(%previous, %session, "started a new session after losing the previous one");
            }
            Event::RecoveryDeferred {
                name,
                error,
                retry_in,
            } => {
                tracing::warn!(%name, %error, ?retry_in, "standby lost its session; cannot start a new one yet")
            }
            Event::RenewFailed { error, deadline_in } => {
                tracing::warn!(%error, ?deadline_in, "session renew failed");
            }
            Event::ReapFailed {
                name,
                error,
                retry_in,
            } => tracing::warn!(%name, %error, ?retry_in, "reaping failed"),
            Event::RegisterFailed { name, error } | Event::UnregisterFailed { name, error } => {
                tracing::warn!(%name, %error, "registry request failed");
            }
            Event::MailUndelivered { name, error } => {
                tracing::info!(%name, %error, "message not delivered");
            }
            other => tracing::debug!(event = ?other, "consuela"),
        }
    }
}

/// A handler that forwards events into a bounded channel without ever blocking.
///
/// When the receiver falls behind, events are dropped and counted.
#[derive(Debug)]
pub struct ChannelPulse {
    tx: mpsc::Sender<Event>,
    dropped: AtomicU64,
}

impl ChannelPulse {
    /// Events dropped because the channel was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Pulse for ChannelPulse {
    fn handle(&self, event: &Event) {
        if self.tx.try_send(event.clone()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A [`ChannelPulse`] and the receiver of its events.
pub fn channel(capacity: usize) -> (Arc<ChannelPulse>, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel(capacity);
    let pulse = Arc::new(ChannelPulse {
        tx,
        dropped: AtomicU64::new(0),
    });
    (pulse, rx)
}

/// A registry's handlers, handed to the presence and discovery it starts.
impl Pulse for Pulses {
    fn handle(&self, event: &Event) {
        self.emit(event.clone());
    }
}

/// The handlers of one registry, each for all components or one.
#[derive(Clone, Default)]
pub(crate) struct Pulses {
    handlers: Vec<(Option<Component>, Arc<dyn Pulse>)>,
    panics: Arc<AtomicU64>,
}

impl std::fmt::Debug for Pulses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pulses")
            .field("handlers", &self.handlers.len())
            .field("panics", &self.panics())
            .finish()
    }
}

impl Pulses {
    pub(crate) fn add(&mut self, component: Option<Component>, pulse: Arc<dyn Pulse>) {
        self.handlers.push((component, pulse));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }

    /// Delivers `event` to every interested handler, catching panics.
    pub(crate) fn emit(&self, event: Event) {
        let component = event.component();
        for (only, handler) in &self.handlers {
            if only.is_some_and(|c| c != component) {
                continue;
            }
            if catch_unwind(AssertUnwindSafe(|| handler.handle(&event))).is_err() {
                self.panics.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// How many handler calls panicked.
    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn panicking_handlers_are_caught_and_counted() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut pulses = Pulses::default();
        pulses.add(None, Arc::new(|_: &Event| panic!("boom")));
        let sink = seen.clone();
        pulses.add(
            Some(Component::Keeper),
            Arc::new(move |e: &Event| sink.lock().unwrap().push(e.component())),
        );
        pulses.emit(Event::SessionDestroyed);
        pulses.emit(Event::Shutdown);
        assert_eq!(pulses.panics(), 2);
        assert_eq!(*seen.lock().unwrap(), [Component::Keeper]);
    }

    #[test]
    fn channel_pulse_drops_instead_of_blocking() {
        let (pulse, mut rx) = channel(1);
        pulse.handle(&Event::Shutdown);
        pulse.handle(&Event::SessionDestroyed);
        assert_eq!(pulse.dropped(), 1);
        assert!(matches!(rx.try_recv(), Ok(Event::Shutdown)));
    }
}
