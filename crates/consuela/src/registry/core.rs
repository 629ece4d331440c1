//! The state every handle, guard and background task of one registry shares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::local::Local;
use super::state::State;
use crate::config::Config;
use crate::consul::Session;
use crate::directory::Directory;
use crate::discovery::Discovery;
use crate::error::Error;
use crate::event::Pulses;
use crate::holder::RegistrationId;
use crate::messaging::{Courier, Endpoint};
use crate::presence::Presence;
use crate::reaper::ReaperHandle;

/// One registry: its session, its names and its background machinery.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) session: Session,
    /// Reads through the read model, hiding this member's dead holders.
    pub(crate) directory: Directory,
    pub(crate) member: String,
    pub(crate) config: Config,
    pub(crate) next_rid: AtomicU64,
    pub(crate) local: Arc<Local>,
    /// Cancelled when ownership can no longer be guaranteed (fail-stop or
    /// shutdown): every `Registration::lost()` waits on it.
    pub(crate) lost: CancellationToken,
    /// Stops the keeper and the reaper.
    pub(crate) stop: CancellationToken,
    pub(crate) state: watch::Sender<State>,
    pub(crate) reaper: ReaperHandle,
    pub(crate) pulses: Pulses,
    /// Keeper, reaper and background releases.
    pub(crate) tasks: TaskTracker,
    /// User futures: [`Registry::spawn`](crate::Registry::spawn)'s and
    /// singleton leaders'. A shutdown stops them before releasing any name.
    pub(crate) spawned: TaskTracker,
    /// The `[presence]` the registry started, deregistered on shutdown.
    pub(crate) presence: Mutex<Option<Presence>>,
    /// The `[discovery]` the registry started, stopped on shutdown.
    pub(crate) discovery: Mutex<Option<Discovery>>,
    /// The URL of this member's mail endpoint, when `[messaging]` runs one.
    pub(crate) mail_url: Option<String>,
    /// That endpoint, stopped on shutdown.
    pub(crate) endpoint: Mutex<Option<Endpoint>>,
    /// Delivers messages to other members' mailboxes (see [`Core::courier`]).
    pub(crate) courier: OnceLock<Courier>,
}

impl Core {
    /// A fresh id for the next registration.
    pub(crate) fn next_id(&self) -> RegistrationId {
        RegistrationId {
            member: self.member.clone(),
            rid: self.next_rid.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The courier: `[messaging]`'s, built at start, or one with the
    /// defaults, built on first use (a registry that never sends to another
    /// member never builds an HTTP client for it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if the HTTP client
    /// cannot be built.
    pub(crate) fn courier(&self) -> Result<&Courier, Error> {
        if let Some(courier) = self.courier.get() {
            return Ok(courier);
        }
        let courier = Courier::new(&self.config.messaging_settings())?;
        Ok(self.courier.get_or_init(|| courier))
    }

    /// Deregisters the presence and stops the discovery the registry started.
    pub(crate) async fn stop_services(&self) {
        let presence = self
            .presence
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(presence) = presence
            && let Err(error) = presence.shutdown().await
        {
            tracing::warn!(%error, "could not deregister the presence; Consul will find it dead");
        }
        let discovery = self
            .discovery
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(discovery) = discovery {
            discovery.shutdown().await;
        }
        let endpoint = self
            .endpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(endpoint) = endpoint {
            endpoint.shutdown().await;
        }
    }
}
