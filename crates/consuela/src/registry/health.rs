//! [`Registry::health`]: the original's `test/0`, as a typed report.

use std::fmt;
use std::time::Duration;

use super::handle::Registry;
use super::state::State;
use crate::error::Error;

/// What [`Registry::health`] found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Health {
    /// The registry's state when asked.
    pub state: State,
    /// Consul answered a consistent read of our session: `Ok(true)` while it
    /// has it, `Ok(false)` once it is gone, the error when Consul could not
    /// be asked.
    pub session: Result<bool, Error>,
    /// Zombies waiting for the reaper.
    pub reaper_queue: usize,
    /// How long the reaper's removals have kept failing, if they do (its
    /// retry budget, `reaper.retry`, fail-stops the registry when spent).
    pub reaper_failing_for: Option<Duration>,
}

impl Health {
    /// Running, our session alive in Consul, and the reaper not failing.
    pub fn is_ok(&self) -> bool {
        self.state == State::Running
            && matches!(self.session, Ok(true))
            && self.reaper_failing_for.is_none()
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return write!(f, "healthy ({} zombies queued)", self.reaper_queue);
        }
        match self.state {
            State::Running => {}
            State::Lost(reason) => return write!(f, "session lost: {reason}"),
            State::ShuttingDown | State::Shutdown => return f.write_str("shut down"),
        }
        match &self.session {
            Ok(true) => {}
            Ok(false) => return f.write_str("Consul no longer has the session"),
            Err(e) => return write!(f, "Consul cannot be reached: {e}"),
        }
        match self.reaper_failing_for {
            Some(d) => write!(
                f,
                "the reaper has failed for {:.1} s ({} zombies queued)",
                d.as_secs_f64(),
                self.reaper_queue
            ),
            None => f.write_str("healthy"),
        }
    }
}

impl Registry {
    /// Checks what the original's `test/0` checked: the registry is running,
    /// Consul is reachable and still has our session (one consistent read),
    /// and the reaper's removals are not failing.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn health(&self) -> Health {
        let state = self.state();
        let session = self.core().session.alive().await;
        let reaper = &self.core().reaper;
        Health {
            state,
            session,
            reaper_queue: reaper.len(),
            reaper_failing_for: reaper.failing_since().map(|since| since.elapsed()),
        }
    }
}
