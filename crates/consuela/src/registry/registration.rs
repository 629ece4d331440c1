//! The guards a registration hands out: [`Registration`] and [`SpawnHandle`].

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;

use super::Inner;
use crate::error::{Error, ErrorKind};
use crate::name::Name;
use crate::record::{Owner, ProcessId, Registered};

/// Proof that this member holds a name. Dropping it releases the name in
/// the background; [`unregister`](Self::unregister) releases it and waits.
#[derive(Debug)]
#[must_use = "dropping a Registration releases the name"]
pub struct Registration {
    inner: Arc<Inner>,
    name: Name,
    registered: Registered,
    lost: CancellationToken,
    released: bool,
}

impl Registration {
    pub(super) fn new(inner: Arc<Inner>, name: Name, registered: Registered) -> Self {
        let lost = inner.lost.clone();
        Self {
            inner,
            name,
            registered,
            lost,
            released: false,
        }
    }

    /// The registered name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Who holds it: this member and the registration id.
    pub fn id(&self) -> &ProcessId {
        &self.registered.id
    }

    /// The owner as registered.
    pub fn owner(&self) -> &Owner {
        &self.registered.owner
    }

    /// The whole registration record.
    pub fn registered(&self) -> &Registered {
        &self.registered
    }

    /// The fencing token: the key's `ModifyIndex` at acquisition. It strictly
    /// increases across successive owners of the name, so a downstream system
    /// that remembers the highest token it has seen can refuse a stale owner.
    pub fn fencing_token(&self) -> u64 {
        self.registered.fencing_token
    }

    /// Whether ownership can no longer be guaranteed.
    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Resolves when ownership can no longer be guaranteed: the session was
    /// lost (deadline passed, invalidated, reaper gave up), the registry was
    /// dropped or shut down. Stop acting as the owner at once when it fires.
    ///
    /// Loss is detected per session, not per key: someone who deletes the
    /// key behind our back (an operator) is not noticed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn lost(&self) -> WaitForCancellationFuture<'_> {
        self.lost.cancelled()
    }

    /// Releases the name with one Consul request and waits for it.
    ///
    /// # Errors
    ///
    /// The outcome kinds when Consul did not answer definitely; the name was
    /// then handed to the reaper, which keeps trying. Locally the name is
    /// released either way.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in effect: if cancelled, the release may or may not have
    /// reached Consul, and a failed one is still handed to the reaper.
    pub async fn unregister(mut self) -> Result<(), Error> {
        self.released = true;
        if self.is_lost() {
            return Ok(());
        }
        self.inner
            .release_now(&self.name, &self.registered.id)
            .await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.released {
            self.inner
                .release_in_background(self.name.clone(), &self.registered.id);
        }
    }
}

/// A future running under a registered name (see [`crate::Registry::spawn`]).
#[derive(Debug)]
pub struct SpawnHandle<T> {
    join: JoinHandle<Result<T, Error>>,
    stop: CancellationToken,
    registered: Registered,
}

impl<T: Send + 'static> SpawnHandle<T> {
    pub(super) fn spawn<F>(tracker: &TaskTracker, registration: Registration, future: F) -> Self
    where
        F: Future<Output = T> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let registered = registration.registered.clone();
        let stopped = stop.clone();
        let join = tracker.spawn(async move {
            let outcome = tokio::select! {
                biased;
                () = registration.lost() => None,
                () = stopped.cancelled() => None,
                out = future => Some(out),
            };
            // The future is dropped here, before the name is released.
            match outcome {
                Some(out) => {
                    let _ = registration.unregister().await;
                    Ok(out)
                }
                None if registration.is_lost() => {
                    let reason = registration.inner.lost_reason();
                    drop(registration);
                    Err(reason)
                }
                None => {
                    let _ = registration.unregister().await;
                    Err(Error::new(ErrorKind::Stopped))
                }
            }
        });
        Self {
            join,
            stop,
            registered,
        }
    }

    /// The registration the future runs under.
    pub fn registered(&self) -> &Registered {
        &self.registered
    }

    /// The fencing token of the registration.
    pub fn fencing_token(&self) -> u64 {
        self.registered.fencing_token
    }

    /// Stops the future (dropping it), then releases the name. Await
    /// [`join`](Self::join) to know when both happened.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Waits for the task: the future's output, or why it was aborted.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SessionLost`] or [`ErrorKind::Shutdown`] when ownership was
    /// lost, [`ErrorKind::Stopped`] after [`stop`](Self::stop), and
    /// [`ErrorKind::Panicked`] when the future panicked.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping this future leaves the task running.
    pub async fn join(self) -> Result<T, Error> {
        match self.join.await {
            Ok(result) => result,
            Err(e) => Err(Error::with_source(ErrorKind::Panicked, e)),
        }
    }
}
