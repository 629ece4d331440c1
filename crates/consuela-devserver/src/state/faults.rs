//! Fault knobs of the `/_dev/` endpoints (`No cluster leader` answers, added
//! latency), read on every request without taking the state lock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Fault knobs, readable without the state lock.
#[derive(Debug)]
pub(crate) struct Faults {
    /// 0 = off, -1 = every request, n > 0 = the next n requests.
    pub(crate) no_leader: AtomicI64,
    pub(crate) latency_ms: AtomicU64,
    /// When the election in progress ends (`/_dev/fault/election`).
    pub(crate) election: Mutex<Option<Instant>>,
    /// Bumped by each agent restart (`/_dev/fault/agent-restart`), with
    /// when the agent is back: the listener closes until then and every
    /// open connection is cut.
    pub(crate) restarts: tokio::sync::watch::Sender<Option<Instant>>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            no_leader: AtomicI64::new(0),
            latency_ms: AtomicU64::new(0),
            election: Mutex::new(None),
            restarts: tokio::sync::watch::Sender::new(None),
        }
    }
}

impl Faults {
    /// Whether this request must answer `No cluster leader` (consumes one count).
    pub(crate) fn take_no_leader(&self) -> bool {
        let mut cur = self.no_leader.load(Ordering::Relaxed);
        loop {
            match cur {
                0 => return false,
                n if n < 0 => return true,
                n => match self.no_leader.compare_exchange(
                    n,
                    n - 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(actual) => cur = actual,
                },
            }
        }
    }

    /// Whether the cluster is electing a leader right now.
    pub(crate) fn electing(&self) -> bool {
        let end = *self.election.lock().unwrap_or_else(|e| e.into_inner());
        end.is_some_and(|end| Instant::now() < end)
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }
}
