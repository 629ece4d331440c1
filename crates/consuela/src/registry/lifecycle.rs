//! A registry's life: the fail-stop, the graceful shutdown, and the
//! supervision of background tasks.

use std::panic::AssertUnwindSafe;

use futures_util::{FutureExt, StreamExt};
use tokio::time::Instant;

use super::core::Core;
use super::state::State;
use crate::config::{EXIT_CODE_SESSION_LOST, OnLost};
use crate::error::{Error, ErrorKind, LostReason, Task};
use crate::event::Event;

/// How many names a shutdown releases at once.
const SHUTDOWN_CONCURRENCY: usize = 64;

impl Core {
    /// `Ok` while running; otherwise the error every call answers.
    pub(crate) fn check_running(&self) -> Result<(), Error> {
        match *self.state.borrow() {
            State::Running => Ok(()),
            State::Lost(reason) => Err(Error::lost(reason)),
            State::ShuttingDown | State::Shutdown => Err(Error::new(ErrorKind::Shutdown)),
        }
    }

    /// Why the registry stopped guaranteeing names, as the error calls answer.
    pub(crate) fn stopped_error(&self) -> Error {
        self.check_running()
            .err()
            .unwrap_or_else(|| Error::new(ErrorKind::Shutdown))
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
            std::process::exit(EXIT_CODE_SESSION_LOST);
        }
    }

    /// Stops user futures, releases every name, drains the reaper and
    /// destroys the session (see [`Registry::shutdown`](crate::Registry::shutdown)).
    pub(crate) async fn shutdown(&self) -> Result<(), Error> {
        let mut lost = None;
        let started = self.state.send_if_modified(|s| match *s {
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
            self.stop.cancel();
            self.tasks.close();
            self.tasks.wait().await;
            self.stop_services().await;
            return Err(Error::lost(reason));
        }
        if !started {
            // Someone else is shutting down: wait for it.
            let mut rx = self.state.subscribe();
            let _ = rx.wait_for(|s| *s == State::Shutdown).await;
            return Ok(());
        }
        // 1. Stop every user future before any of its names is released.
        self.lost.cancel();
        self.spawned.close();
        self.spawned.wait().await;
        // 2. Release names; failures go to the reaper.
        let held = self.local.drain();
        futures_util::stream::iter(held)
            .for_each_concurrent(SHUTDOWN_CONCURRENCY, |(name, held)| async move {
                let _ = self.delete(name, held).await;
            })
            .await;
        // 3. Drain the reaper within its bound, then stop the keeper.
        let deadline = Instant::now() + self.config.reaper.shutdown_timeout;
        self.reaper.shutdown(deadline).await;
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        // 4. Destroy the session, then deregister the presence (its check
        // may be bound to the session: failing it first would invalidate
        // the session and impose the lock-delay on successors).
        match self.session.destroy().await {
            Ok(()) => self.pulses.emit(Event::SessionDestroyed),
            Err(error) => tracing::warn!(%error, "could not destroy the session; it will expire"),
        }
        self.stop_services().await;
        self.state.send_replace(State::Shutdown);
        self.pulses.emit(Event::Shutdown);
        Ok(())
    }
}

/// Runs a background task to its end and reports why ownership is lost:
/// the reason it returned, or [`LostReason::Panicked`] when it panicked. A
/// panicking task must never stop renewals silently.
pub(crate) async fn supervise<F>(task: Task, future: F, lost: impl FnOnce(LostReason))
where
    F: Future<Output = Option<LostReason>>,
{
    let reason = AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .unwrap_or(Some(LostReason::Panicked(task)));
    if let Some(reason) = reason {
        lost(reason);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn run(future: impl Future<Output = Option<LostReason>>) -> Option<LostReason> {
        let seen = Mutex::new(None);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(supervise(Task::Keeper, future, |r| {
            *seen.lock().unwrap() = Some(r);
        }));
        seen.into_inner().unwrap()
    }

    #[test]
    fn a_panicking_task_reports_a_loss_naming_it() {
        let reason = run(async { panic!("boom") });
        assert_eq!(reason, Some(LostReason::Panicked(Task::Keeper)));
        assert_eq!(reason.unwrap().to_string(), "panic in the session keeper");
    }

    #[test]
    fn a_task_ends_with_its_own_reason_or_none() {
        assert_eq!(
            run(async { Some(LostReason::Expired) }),
            Some(LostReason::Expired)
        );
        assert_eq!(run(async { None }), None);
    }
}
