//! [`ReaperState`]: the reaper's queue and retry bookkeeping, as data; no I/O.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::holder::RegistrationId;
use crate::name::Name;
use crate::retry::{Retry, RetryPolicy};
use crate::token::FencingToken;

/// A registration that may still exist in Consul but must not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Zombie {
    pub(crate) name: Name,
    pub(crate) id: RegistrationId,
    /// The key's `ModifyIndex` when we acquired it, if we know it; without it
    /// the reaper reads the key first to check it is still ours.
    pub(crate) fencing_token: Option<FencingToken>,
}

/// How an attempt at the head of the queue ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Deleted, or already gone.
    Reaped,
    /// Someone (even we) re-acquired the name since: nothing to delete.
    Stale,
    /// Consul did not answer definitely.
    Failed,
}

/// What the reaper task should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Nothing queued, or nothing due: wait for work.
    Idle,
    /// Try the head now, in draining mode (a failure spends no retry budget).
    Drain,
    /// Try the head at this instant, in regular mode.
    TryAt(Instant),
    /// The retry policy is exhausted: fail-stop the registry.
    GiveUp,
}

/// The reaper's queue and retry bookkeeping; no I/O.
#[derive(Debug)]
pub(crate) struct ReaperState {
    queue: VecDeque<Zombie>,
    retry: Retry,
    /// When the current streak of failures started.
    failing_since: Option<Instant>,
    /// The regular (retry) timer, if armed.
    timer: Option<Instant>,
    /// A drain attempt is due.
    drain: bool,
}

impl ReaperState {
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        Self {
            queue: VecDeque::new(),
            retry: policy.start(),
            failing_since: None,
            timer: None,
            drain: false,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Since when attempts keep failing, if they do.
    pub(crate) fn failing_since(&self) -> Option<Instant> {
        self.failing_since
    }

    pub(crate) fn head(&self) -> Option<&Zombie> {
        self.queue.front()
    }

    /// Queues a zombie. With `drain` the head is tried at once; otherwise the
    /// retry timer is armed if it is not yet.
    pub(crate) fn enqueue(&mut self, zombie: Zombie, drain: bool, now: Instant) -> Next {
        self.queue.push_back(zombie);
        if drain {
            self.drain = true;
        } else if self.timer.is_none() {
            self.timer = Some(now + self.current_wait());
        }
        self.next()
    }

    /// Some other Consul request just succeeded: try the head now.
    pub(crate) fn drain(&mut self) -> Next {
        self.drain = !self.queue.is_empty();
        self.next()
    }

    /// Records how the attempt at the head ended. `regular` attempts (fired by
    /// the retry timer) spend retry budget; drain attempts do not.
    pub(crate) fn attempted(&mut self, outcome: Attempt, regular: bool, now: Instant) -> Next {
        if !regular {
            self.drain = false;
        }
        match outcome {
            Attempt::Reaped | Attempt::Stale => {
                self.queue.pop_front();
                self.retry.reset();
                self.failing_since = None;
                // Back to back: the next zombie is due at once.
                self.timer = (!self.queue.is_empty()).then_some(now);
            }
            Attempt::Failed if regular => {
                let since = *self.failing_since.get_or_insert(now);
                match self.retry.next_wait(now - since) {
                    Some(wait) => self.timer = Some(now + wait),
                    None => {
                        self.timer = None;
                        return Next::GiveUp;
                    }
                }
            }
            Attempt::Failed => {
                self.failing_since.get_or_insert(now);
                if self.timer.is_none() {
                    self.timer = Some(now + self.current_wait());
                }
            }
        }
        self.next()
    }

    /// The wait the policy would hand out next, without spending it.
    fn current_wait(&self) -> Duration {
        self.retry
            .clone()
            .next_wait(Duration::ZERO)
            .unwrap_or(Duration::ZERO)
    }

    pub(crate) fn next(&self) -> Next {
        if self.queue.is_empty() {
            Next::Idle
        } else if self.drain {
            Next::Drain
        } else {
            self.timer.map_or(Next::Idle, Next::TryAt)
        }
    }
}
