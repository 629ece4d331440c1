//! [`RegisterOptions`]: how a registration treats Consul's lock-delay.

use std::time::Duration;

use tokio::time::Instant;

/// How long after the expected end of a lock-delay the first retry comes.
pub(crate) const LOCK_DELAY_SLACK: Duration = Duration::from_millis(50);
/// How often a registration retries while a lock-delay of unknown start lasts.
pub(crate) const LOCK_DELAY_POLL: Duration = Duration::from_millis(250);
/// How long past one lock-delay a registration keeps waiting before it
/// answers [`LockDelay`](crate::ErrorKind::LockDelay) after all.
pub(crate) const LOCK_DELAY_GRACE: Duration = Duration::from_secs(2);

/// Options of [`Registry::register_with`](crate::Registry::register_with).
///
/// # Examples
///
/// ```no_run
/// # async fn demo(registry: consuela::Registry) -> Result<(), consuela::Error> {
/// use consuela::{Contact, RegisterOptions};
///
/// // A crashed owner's session was just invalidated: the name is free but
/// // Consul's lock-delay still blocks it. Wait it out instead of failing.
/// let options = RegisterOptions::new().wait_out_lock_delay();
/// let registration = registry
///     .register_with("jobs/compactor", Contact::default(), options)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegisterOptions {
    pub(crate) wait_lock_delay: bool,
    pub(crate) freed_at: Option<Instant>,
}

impl RegisterOptions {
    /// The defaults: a lock-delay answers [`LockDelay`](crate::ErrorKind::LockDelay) at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries while Consul's lock-delay blocks the name, for at most the
    /// configured `session.lock_delay` plus two seconds, then answers
    /// `LockDelay` after all.
    pub fn wait_out_lock_delay(mut self) -> Self {
        self.wait_lock_delay = true;
        self
    }

    /// The name was seen to become free at `at` (a standby watching it):
    /// the first retry is aimed at the moment its lock-delay should end.
    /// Implies [`wait_out_lock_delay`](Self::wait_out_lock_delay).
    pub fn freed_at(mut self, at: Instant) -> Self {
        self.wait_lock_delay = true;
        self.freed_at = Some(at);
        self
    }

    /// When to try again after a lock-delay refusal at `now`, or `None` to
    /// give up. `started` is when the first attempt was made.
    pub(crate) fn retry_at(
        &self,
        lock_delay: Duration,
        started: Instant,
        now: Instant,
    ) -> Option<Instant> {
        if !self.wait_lock_delay {
            return None;
        }
        let from = self.freed_at.map_or(started, |f| f.min(started));
        let give_up = from + lock_delay + LOCK_DELAY_GRACE;
        if now >= give_up {
            return None;
        }
        let expected_end = self.freed_at.map(|f| f + lock_delay + LOCK_DELAY_SLACK);
        let at = match expected_end {
            Some(end) if end > now => end,
            _ => now + LOCK_DELAY_POLL,
        };
        Some(at.min(give_up))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const DELAY: Duration = Duration::from_secs(10);

    #[test]
    fn without_the_option_a_lock_delay_answers_at_once() {
        let t0 = Instant::now();
        assert_eq!(RegisterOptions::new().retry_at(DELAY, t0, t0), None);
    }

    #[test]
    fn an_unknown_start_polls_until_one_lock_delay_and_a_grace_passed() {
        let t0 = Instant::now();
        let o = RegisterOptions::new().wait_out_lock_delay();
        assert_eq!(o.retry_at(DELAY, t0, t0), Some(t0 + 250 * MS));
        let late = t0 + DELAY + LOCK_DELAY_GRACE - 100 * MS;
        assert_eq!(
            o.retry_at(DELAY, t0, late),
            Some(t0 + DELAY + LOCK_DELAY_GRACE)
        );
        assert_eq!(o.retry_at(DELAY, t0, t0 + DELAY + LOCK_DELAY_GRACE), None);
    }

    #[test]
    fn a_known_free_time_aims_at_the_end_of_its_lock_delay() {
        let t0 = Instant::now();
        let o = RegisterOptions::new().freed_at(t0);
        let t1 = t0 + 20 * MS;
        assert_eq!(
            o.retry_at(DELAY, t1, t1),
            Some(t0 + DELAY + LOCK_DELAY_SLACK)
        );
        // Still blocked after the expected end: poll.
        let t2 = t0 + DELAY + 60 * MS;
        assert_eq!(o.retry_at(DELAY, t1, t2), Some(t2 + LOCK_DELAY_POLL));
    }
}
