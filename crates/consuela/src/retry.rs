//! Retry policies: how long to wait between attempts and when to give up.
//!
//! Unlike the Erlang original (where `max_total_timeout` was turned into an
//! attempt count up front), a total timeout here is a real wall-clock budget:
//! the policy gives up once that much time has passed since the first failure.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;

/// How the wait between attempts grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Every wait is `delay`.
    Linear,
    /// Waits are `delay`, `delay × factor`, … capped at `max_delay`.
    Exponential,
}

/// A retry policy, loadable from configuration.
///
/// ```toml
/// strategy = "exponential"
/// delay = "1s"
/// factor = 2.0
/// max_delay = "5s"
/// max_total_timeout = "30s"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// How waits grow.
    pub strategy: Strategy,
    /// The first wait (and every wait, for [`Strategy::Linear`]).
    #[serde(with = "duration")]
    pub delay: Duration,
    /// Growth factor of [`Strategy::Exponential`]; ignored by linear.
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// Cap on a single wait of [`Strategy::Exponential`].
    #[serde(default, with = "duration::option")]
    pub max_delay: Option<Duration>,
    /// Give up after this many retries.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Give up once this much time has passed since the first failure.
    #[serde(default, with = "duration::option")]
    pub max_total_timeout: Option<Duration>,
}

fn default_factor() -> f64 {
    2.0
}

impl RetryPolicy {
    /// Waits of `delay`, forever until limited.
    pub fn linear(delay: Duration) -> Self {
        Self {
            strategy: Strategy::Linear,
            delay,
            factor: default_factor(),
            max_delay: None,
            max_attempts: None,
            max_total_timeout: None,
        }
    }

    /// Waits of `initial`, `initial × factor`, … capped at `max_delay`.
    pub fn exponential(initial: Duration, factor: f64, max_delay: Duration) -> Self {
        Self {
            strategy: Strategy::Exponential,
            delay: initial,
            factor,
            max_delay: Some(max_delay),
            max_attempts: None,
            max_total_timeout: None,
        }
    }

    /// Gives up after `attempts` retries.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Gives up once `budget` has passed since the first failure.
    pub fn max_total_timeout(mut self, budget: Duration) -> Self {
        self.max_total_timeout = Some(budget);
        self
    }

    /// Starts counting retries.
    pub fn start(&self) -> Retry {
        Retry {
            policy: self.clone(),
            attempt: 0,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.delay.is_zero() && self.strategy == Strategy::Exponential {
            return Err("an exponential retry needs a non-zero delay".into());
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(format!(
                "retry factor {} must be a number >= 1",
                self.factor
            ));
        }
        if self.max_attempts.is_none() && self.max_total_timeout.is_none() {
            return Err("a retry policy needs max_attempts or max_total_timeout".into());
        }
        Ok(())
    }

    fn wait(&self, attempt: u32) -> Duration {
        match self.strategy {
            Strategy::Linear => self.delay,
            Strategy::Exponential => {
                let cap = self.max_delay.unwrap_or(Duration::MAX);
                let grown = self.delay.as_secs_f64() * self.factor.powi(attempt.min(64) as i32);
                Duration::try_from_secs_f64(grown).map_or(cap, |d| d.min(cap))
            }
        }
    }
}

/// The running state of a [`RetryPolicy`]; sans-I/O, the caller supplies time.
#[derive(Debug, Clone)]
pub struct Retry {
    policy: RetryPolicy,
    attempt: u32,
}

impl Retry {
    /// The wait before the next attempt, or `None` to give up.
    ///
    /// `elapsed` is the time since the first failure of this streak. The last
    /// wait is shortened so that the final attempt happens at the budget's end.
    pub fn next_wait(&mut self, elapsed: Duration) -> Option<Duration> {
        if let Some(max) = self.policy.max_attempts
            && self.attempt >= max
        {
            return None;
        }
        let mut wait = self.policy.wait(self.attempt);
        if let Some(budget) = self.policy.max_total_timeout {
            let left = budget.checked_sub(elapsed).filter(|d| !d.is_zero())?;
            wait = wait.min(left);
        }
        self.attempt += 1;
        Some(wait)
    }

    /// How many waits were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Starts over, after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn waits(policy: &RetryPolicy) -> Vec<Duration> {
        let mut retry = policy.start();
        let mut elapsed = Duration::ZERO;
        let mut out = Vec::new();
        while let Some(w) = retry.next_wait(elapsed) {
            out.push(w);
            elapsed += w;
            assert!(out.len() < 10_000, "policy never gives up");
        }
        out
    }

    #[test]
    fn linear_by_wall_clock_matches_the_original_reaper_default() {
        let policy = RetryPolicy::linear(5 * S).max_total_timeout(600 * S);
        let w = waits(&policy);
        assert_eq!(w.len(), 120);
        assert!(w.iter().all(|d| *d == 5 * S));
    }

    #[test]
    fn exponential_grows_and_caps_like_the_original_leader_default() {
        let policy = RetryPolicy::exponential(S, 2.0, 5 * S).max_total_timeout(30 * S);
        let w: Vec<u64> = waits(&policy).iter().map(Duration::as_secs).collect();
        assert_eq!(w, [1, 2, 4, 5, 5, 5, 5, 3]);
    }

    #[test]
    fn attempts_limit_and_reset() {
        let policy =
            RetryPolicy::exponential(Duration::from_millis(100), 2.0, 10 * S).max_attempts(3);
        let w: Vec<u128> = waits(&policy).iter().map(Duration::as_millis).collect();
        assert_eq!(w, [100, 200, 400]);
        let mut retry = policy.start();
        retry.next_wait(Duration::ZERO);
        retry.next_wait(Duration::ZERO);
        retry.reset();
        assert_eq!(
            retry.next_wait(Duration::ZERO),
            Some(Duration::from_millis(100))
        );
    }

    #[test]
    fn budget_already_spent_gives_up_at_once() {
        let mut retry = RetryPolicy::linear(S).max_total_timeout(S).start();
        assert_eq!(retry.next_wait(2 * S), None);
        assert_eq!(retry.next_wait(S), None);
    }

    #[test]
    fn huge_growth_saturates_at_the_cap() {
        let policy = RetryPolicy::exponential(S, 10.0, 7 * S).max_attempts(200);
        assert!(waits(&policy).iter().skip(1).all(|d| *d == 7 * S));
    }

    #[test]
    fn validation() {
        assert!(RetryPolicy::linear(S).validate().is_err(), "unbounded");
        assert!(RetryPolicy::linear(S).max_attempts(1).validate().is_ok());
        let mut p = RetryPolicy::exponential(S, 0.5, S).max_attempts(1);
        assert!(p.validate().is_err());
        p.factor = f64::NAN;
        assert!(p.validate().is_err());
    }

    #[test]
    fn loads_from_toml() {
        let policy: RetryPolicy = toml::from_str(
            "strategy = \"exponential\"\ndelay = \"1s\"\nmax_delay = \"5s\"\nmax_total_timeout = \"30s\"\n",
        )
        .unwrap();
        assert_eq!(
            policy,
            RetryPolicy::exponential(S, 2.0, 5 * S).max_total_timeout(30 * S)
        );
        let bad =
            toml::from_str::<RetryPolicy>("strategy = \"linear\"\ndelay = \"1s\"\nbogus = 1\n");
        assert!(bad.is_err());
    }
}

/// The pause between attempts while Consul has no leader (500 `No cluster
/// leader`, refused before anything was applied): 50 ms, doubling up to
/// 500 ms. Elections last seconds, so a short fixed ramp suffices.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoLeaderBackoff {
    next: Duration,
    first: bool,
}

impl NoLeaderBackoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_millis(500);

    pub(crate) fn new() -> Self {
        Self {
            next: Self::FIRST,
            first: true,
        }
    }

    /// Whether no pause was taken yet (to say "waiting" once).
    pub(crate) fn is_first(&self) -> bool {
        self.first
    }

    /// The next pause.
    pub(crate) fn next(&mut self) -> Duration {
        let wait = self.next;
        self.next = (wait * 2).min(Self::MAX);
        self.first = false;
        wait
    }

    /// The next pause, or `None` when pausing from `now` would reach `deadline`.
    pub(crate) fn next_before(
        &mut self,
        now: tokio::time::Instant,
        deadline: tokio::time::Instant,
    ) -> Option<Duration> {
        (now + self.next < deadline).then(|| self.next())
    }
}

#[cfg(test)]
mod no_leader_tests {
    use super::*;

    #[test]
    fn doubles_to_its_cap_and_stops_short_of_the_deadline() {
        let mut b = NoLeaderBackoff::new();
        assert!(b.is_first());
        let waits: Vec<_> = (0..6).map(|_| b.next().as_millis()).collect();
        assert_eq!(waits, [50, 100, 200, 400, 500, 500]);
        assert!(!b.is_first());
        let now = tokio::time::Instant::now();
        let mut b = NoLeaderBackoff::new();
        assert_eq!(
            b.next_before(now, now + Duration::from_millis(60)),
            Some(NoLeaderBackoff::FIRST)
        );
        assert_eq!(b.next_before(now, now + Duration::from_millis(60)), None);
    }
}
