//! The guards a registration hands out: [`Registration`] and [`SpawnHandle`].

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;

use super::core::Core;
use crate::error::{Error, ErrorKind};
use crate::holder::{Contact, Holder, RegistrationId};
use crate::name::Name;
use crate::token::FencingToken;

/// Proof that this member holds a name. Dropping it releases the name in
/// the background; [`unregister`](Self::unregister) releases it and waits.
#[derive(Debug)]
#[must_use = "dropping a Registration releases the name"]
pub struct Registration {
    core: Arc<Core>,
    name: Name,
    holder: Holder,
    lost: CancellationToken,
    released: bool,
}

impl Registration {
    pub(super) fn new(core: Arc<Core>, name: Name, holder: Holder) -> Self {
        let lost = core.lost.clone();
        Self {
            core,
            name,
            holder,
            lost,
            released: false,
        }
    }

    /// The registered name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// Which registration this is: this member and a member-unique number.
    pub fn id(&self) -> &RegistrationId {
        &self.holder.id
    }

    /// The contact registered with the name.
    pub fn contact(&self) -> &Contact {
        &self.holder.contact
    }

    /// The name's holder as others read it.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The fencing token: the key's `ModifyIndex` at acquisition. It strictly
    /// increases across successive owners of the name, so a downstream system
    /// that remembers the highest token it has seen can refuse a stale owner.
    pub fn fencing_token(&self) -> FencingToken {
        self.holder.fencing_token
    }

    /// Another guard of this very registration (same id, same fencing
    /// token), for handing a held name to a second task. The name is
    /// released when the last guard goes; every guard sees the same `lost()`.
    ///
    /// This is the only way two guards of one name exist in a member: a
    /// second [`register`](crate::Registry::register) of a held name fails
    /// with [`AlreadyRegistered`](ErrorKind::AlreadyRegistered).
    pub fn share(&self) -> Self {
        let shared = self.core.local.share(&self.name, &self.holder.id);
        Self {
            core: self.core.clone(),
            name: self.name.clone(),
            holder: self.holder.clone(),
            lost: self.lost.clone(),
            // Nothing to release for a guard of a registration already gone.
            released: !shared,
        }
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

    /// Runs `future` under this registration, as
    /// [`Registry::spawn`](crate::Registry::spawn) does under a name it
    /// registers: aborted (dropped) as soon as ownership is lost or the
    /// registry stops, and the name released when it ends. For a name
    /// registered another way, with a mailbox say.
    pub fn spawn<F>(self, future: F) -> SpawnHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let tracker = self.core.spawned.clone();
        SpawnHandle::spawn(&tracker, self, future)
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
        self.core.release_now(&self.name, &self.holder.id).await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.released {
            self.core
                .release_in_background(self.name.clone(), &self.holder.id);
        }
    }
}

/// A future running under a registered name (see [`crate::Registry::spawn`]).
#[derive(Debug)]
pub struct SpawnHandle<T> {
    join: JoinHandle<Result<T, Error>>,
    stop: CancellationToken,
    holder: Holder,
}

impl<T: Send + 'static> SpawnHandle<T> {
    pub(super) fn spawn<F>(tracker: &TaskTracker, registration: Registration, future: F) -> Self
    where
        F: Future<Output = T> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let holder = registration.holder.clone();
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
                    let reason = registration.core.stopped_error();
                    drop(registration);
                    Err(reason)
                }
                None => {
                    let _ = registration.unregister().await;
                    Err(Error::new(ErrorKind::Stopped))
                }
            }
        });
        Self { join, stop, holder }
    }

    /// A handle of a task spawned elsewhere (a semaphore slot's) that
    /// behaves as this one: `stop` cancels `stop`, `join` awaits `join`.
    pub(crate) fn from_parts(
        join: JoinHandle<Result<T, Error>>,
        stop: CancellationToken,
        holder: Holder,
    ) -> Self {
        Self { join, stop, holder }
    }

    /// The name's holder, as the future runs under it.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The fencing token of the registration.
    pub fn fencing_token(&self) -> FencingToken {
        self.holder.fencing_token
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
