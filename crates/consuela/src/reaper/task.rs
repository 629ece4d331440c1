//! The reaper task: a thin I/O shell around [`ReaperState`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use consuela_client::{Consistency, WatchConfig};
use futures_util::StreamExt;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::state::{Attempt, Next, ReaperState, Zombie};
use crate::consul::Session;
use crate::directory::Directory;
use crate::error::{Error, ErrorKind};
use crate::event::{Event, Pulses};
use crate::read;
use crate::retry::RetryPolicy;

/// Pause between failed attempts while draining on shutdown, so that an
/// unreachable Consul is not hammered (the original busy-looped here).
const SHUTDOWN_RETRY: Duration = Duration::from_millis(100);

/// The most keys watched at once for a late-applied acquisition; beyond it
/// an unknown outcome is settled by the reaper's single read, as before.
const MAX_LATE_WATCHES: usize = 1024;

enum Command {
    Enqueue(Zombie, bool),
    Shutdown(Instant, oneshot::Sender<usize>),
}

/// How the reaper task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Stopped or shut down.
    Stopped,
    /// The retry policy ran out.
    GaveUp,
}

/// Sends work to the reaper task. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct ReaperHandle {
    tx: mpsc::UnboundedSender<Command>,
    kick: Arc<Notify>,
    queued: Arc<AtomicUsize>,
    /// Since when removals keep failing, if they do.
    failing: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl ReaperHandle {
    /// Queues a zombie. Never blocks, so it is safe from `Drop`.
    pub(crate) fn enqueue(&self, zombie: Zombie, drain: bool) {
        // Counted here so that a kick right after sees it.
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Command::Enqueue(zombie, drain)).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A Consul request just succeeded: if anything is queued, try it now.
    /// Costs one atomic load when the queue is empty (the usual case).
    pub(crate) fn kick(&self) {
        if self.queued.load(Ordering::Relaxed) > 0 {
            self.kick.notify_one();
        }
    }

    /// Zombies queued and not yet reaped.
    pub(crate) fn len(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Since when removals keep failing, if they do.
    pub(crate) fn failing_since(&self) -> Option<Instant> {
        *self.failing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drains the queue until `deadline`, then stops the task. Returns how many
    /// zombies were left.
    pub(crate) async fn shutdown(&self, deadline: Instant) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(deadline, tx)).is_err() {
            return self.len();
        }
        rx.await.unwrap_or_else(|_| self.len())
    }
}

/// Everything the task needs.
pub(crate) struct Reaper {
    pub(crate) session: Session,
    pub(crate) directory: Directory,
    pub(crate) pulses: Pulses,
    pub(crate) policy: RetryPolicy,
    /// How long a key whose acquisition outcome was unknown stays watched.
    pub(crate) late_apply_window: Duration,
    pub(crate) stop: CancellationToken,
}

/// Creates the handle and the task future (to be spawned by the caller).
pub(crate) fn spawn(reaper: Reaper) -> (ReaperHandle, impl Future<Output = Exit> + Send) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = ReaperHandle {
        tx,
        kick: Arc::new(Notify::new()),
        queued: Arc::new(AtomicUsize::new(0)),
        failing: Arc::default(),
    };
    let task = reaper.run(rx, handle.clone());
    (handle, task)
}

impl Reaper {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Command>, handle: ReaperHandle) -> Exit {
        let (kick, queued) = (handle.kick.clone(), handle.queued.clone());
        let late = TaskTracker::new();
        let exit = self.serve(&mut rx, &kick, &queued, &handle, &late).await;
        late.close();
        exit
    }

    async fn serve(
        &self,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        kick: &Notify,
        queued: &AtomicUsize,
        handle: &ReaperHandle,
        late: &TaskTracker,
    ) -> Exit {
        let mut state = ReaperState::new(&self.policy);
        let mut next = Next::Idle;
        loop {
            let regular = match next {
                Next::GiveUp => return Exit::GaveUp,
                Next::Drain => false,
                Next::TryAt(at) => {
                    tokio::select! {
                        biased;
                        () = self.stop.cancelled() => return Exit::Stopped,
                        cmd = rx.recv() => {
                            next = self.command(cmd, &mut state, queued).await;
                            continue;
                        }
                        () = kick.notified() => {
                            next = state.drain();
                            continue;
                        }
                        () = sleep_until(at) => true,
                    }
                }
                Next::Idle => {
                    tokio::select! {
                        biased;
                        () = self.stop.cancelled() => return Exit::Stopped,
                        cmd = rx.recv() => next = self.command(cmd, &mut state, queued).await,
                        () = kick.notified() => next = state.drain(),
                    }
                    continue;
                }
            };
            let Some(zombie) = state.head().cloned() else {
                next = Next::Idle;
                continue;
            };
            let result = tokio::select! {
                biased;
                () = self.stop.cancelled() => return Exit::Stopped,
                result = self.reap(&zombie) => result,
            };
            next = state.attempted(attempt_of(&result), regular, Instant::now());
            *handle.failing.lock().unwrap_or_else(|e| e.into_inner()) = state.failing_since();
            self.report(&zombie, &result, next, &state, queued);
            if zombie.fencing_token.is_none() && result.is_ok() && late.len() < MAX_LATE_WATCHES {
                late.spawn(self.watch_late(zombie, handle.clone()));
            }
        }
    }

    /// Watches the key of an acquisition whose outcome was unknown, after the
    /// reaper found it free or someone else's: if the request is applied
    /// late, the key turns up locked by our session with this very
    /// registration, and is queued for removal with its fencing token.
    fn watch_late(&self, zombie: Zombie, handle: ReaperHandle) -> impl Future<Output = ()> + use<> {
        let until = Instant::now() + self.late_apply_window;
        let config = WatchConfig::default().wait(self.late_apply_window);
        let mut answers = self.directory.watch_key(&zombie.name, config);
        let (session, stop) = (self.session.clone(), self.stop.clone());
        async move {
            let found = async {
                while let Some(answer) = answers.next().await {
                    let Ok(answer) = answer else { continue };
                    let Some(entry) = answer.value else { continue };
                    let ours = session.holds(&entry)
                        && read::decode(&entry)
                            .ok()
                            .flatten()
                            .is_some_and(|h| h.id == zombie.id);
                    if ours {
                        return Some(entry.modify_index.into());
                    }
                }
                None
            };
            tokio::select! {
                () = stop.cancelled() => {}
                () = sleep_until(until) => {}
                token = found => {
                    if let Some(token) = token {
                        handle.enqueue(Zombie { fencing_token: Some(token), ..zombie }, true);
                    }
                }
            }
        }
    }

    async fn command(
        &self,
        cmd: Option<Command>,
        state: &mut ReaperState,
        queued: &AtomicUsize,
    ) -> Next {
        match cmd {
            Some(Command::Enqueue(zombie, drain)) => {
                let (name, id) = (zombie.name.clone(), zombie.id.clone());
                let next = state.enqueue(zombie, drain, Instant::now());
                self.pulses.emit(Event::ZombieEnqueued {
                    name,
                    id,
                    queue: state.len(),
                });
                next
            }
            Some(Command::Shutdown(deadline, done)) => {
                let left = self.drain_until(state, deadline, queued).await;
                let _ = done.send(left);
                self.stop.cancel();
                Next::Idle
            }
            None => {
                self.stop.cancel();
                Next::Idle
            }
        }
    }

    /// Shutdown: try every zombie until it goes or `deadline` passes.
    async fn drain_until(
        &self,
        state: &mut ReaperState,
        deadline: Instant,
        queued: &AtomicUsize,
    ) -> usize {
        while let Some(zombie) = state.head().cloned() {
            let result = tokio::select! {
                result = self.reap(&zombie) => result,
                () = sleep_until(deadline) => break,
            };
            let next = state.attempted(attempt_of(&result), false, Instant::now());
            self.report(&zombie, &result, next, state, queued);
            if result.is_err() {
                if Instant::now() + SHUTDOWN_RETRY >= deadline {
                    break;
                }
                sleep(SHUTDOWN_RETRY).await;
            }
        }
        state.len()
    }

    fn report(
        &self,
        zombie: &Zombie,
        result: &Result<Attempt, Error>,
        next: Next,
        state: &ReaperState,
        queued: &AtomicUsize,
    ) {
        match result {
            Ok(attempt) => {
                queued.fetch_sub(1, Ordering::Relaxed);
                self.pulses.emit(Event::ZombieReaped {
                    name: zombie.name.clone(),
                    id: zombie.id.clone(),
                    stale: *attempt == Attempt::Stale,
                    queue: state.len(),
                });
            }
            Err(error) => {
                let retry_in = match next {
                    Next::TryAt(at) => Some(at.saturating_duration_since(Instant::now())),
                    Next::Drain | Next::Idle => Some(Duration::ZERO),
                    Next::GiveUp => None,
                };
                self.pulses.emit(Event::ReapFailed {
                    name: zombie.name.clone(),
                    error: error.clone(),
                    retry_in,
                });
            }
        }
    }

    /// One attempt at removing `zombie`; an error means [`Attempt::Failed`].
    async fn reap(&self, zombie: &Zombie) -> Result<Attempt, Error> {
        let key = self.directory.key(&zombie.name);
        let index = match zombie.fencing_token {
            Some(index) => index,
            // The registration's outcome is unknown: only delete what is
            // provably ours, i.e. our session and this very registration.
            None => match self
                .directory
                .entry(&zombie.name, Consistency::Default)
                .await
            {
                Ok(Some((holder, entry)))
                    if self.session.holds(&entry) && holder.id == zombie.id =>
                {
                    holder.fencing_token
                }
                Ok(Some(_)) => return Ok(Attempt::Stale),
                Ok(None) => return Ok(Attempt::Reaped),
                // A value we did not write: not ours to delete.
                Err(e) if matches!(e.kind(), ErrorKind::Foreign) => return Ok(Attempt::Stale),
                Err(e) => return Err(e),
            },
        };
        Ok(match self.session.delete_if(&key, index).await? {
            true => Attempt::Reaped,
            false => Attempt::Stale,
        })
    }
}

fn attempt_of(result: &Result<Attempt, Error>) -> Attempt {
    *result.as_ref().unwrap_or(&Attempt::Failed)
}
