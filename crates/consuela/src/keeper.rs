//! The session keeper: renews the registry's session and fail-stops the
//! registry before Consul could hand its names to anyone else.
//!
//! The safety argument (see ARCHITECTURE.md): Consul never invalidates a
//! session earlier than TTL after it applied a renew, and a renew is applied
//! after it was sent. So `send time of the last successful renew + TTL` is a
//! local deadline that passes no later than Consul's earliest invalidation.
//! The keeper races every renew against that deadline and stops everything
//! the moment it passes.

use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::config::Interval;
use crate::consul::Session;
use crate::error::LostReason;
use crate::event::{Event, Pulses};
use crate::reaper::ReaperHandle;

/// The longest pause between retries of a failed renew.
const RETRY_CAP: Duration = Duration::from_secs(1);
/// The shortest: a quick answer (500 `No cluster leader`) must not turn the
/// keeper into a busy loop.
const RETRY_FLOOR: Duration = Duration::from_millis(100);

/// The keeper's clock arithmetic; no I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline {
    ttl: Duration,
    margin: Duration,
    interval: Interval,
    /// Past this instant ownership can no longer be guaranteed.
    pub(crate) at: Instant,
}

impl Deadline {
    /// The deadline of a session whose create (or renew) request was sent at `sent`.
    pub(crate) fn new(sent: Instant, ttl: Duration, margin: Duration, interval: Interval) -> Self {
        Self {
            ttl,
            margin,
            interval,
            at: sent + ttl.saturating_sub(margin),
        }
    }

    /// A renew sent at `sent` succeeded and Consul answered with `ttl` (it may
    /// raise the TTL to ask clients to renew less often; it never lowers it).
    /// Returns when to renew next.
    pub(crate) fn renewed(&mut self, sent: Instant, ttl: Option<Duration>) -> Instant {
        if let Some(ttl) = ttl.filter(|t| *t > self.ttl) {
            self.ttl = ttl;
        }
        self.at = self.at.max(sent + self.ttl.saturating_sub(self.margin));
        (sent + self.interval()).min(self.at)
    }

    /// A renew failed at `now`: when to try again (never after the
    /// deadline). Four times per interval (at most a second apart), so that
    /// the first renew after Consul comes back is sent soon after.
    pub(crate) fn failed(&self, now: Instant) -> Instant {
        (now + (self.interval() / 4).clamp(RETRY_FLOOR, RETRY_CAP)).min(self.at)
    }

    pub(crate) fn interval(&self) -> Duration {
        self.interval.resolve(self.ttl)
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// Everything the keeper task needs.
pub(crate) struct Keeper {
    pub(crate) session: Session,
    pub(crate) deadline: Deadline,
    pub(crate) pulses: Pulses,
    pub(crate) reaper: ReaperHandle,
    pub(crate) stop: CancellationToken,
    /// Test-only: never fail-stop at the deadline (to prove the safety
    /// checker can catch the overlap that follows).
    pub(crate) ignore_deadline: bool,
}

impl Keeper {
    /// Renews until stopped (`None`) or until ownership is lost.
    pub(crate) async fn run(mut self) -> Option<LostReason> {
        let mut next = Instant::now() + self.deadline.interval();
        let enforce = !self.ignore_deadline;
        loop {
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return None,
                () = sleep_until(self.deadline.at), if enforce => return Some(LostReason::Expired),
                () = sleep_until(next) => {}
            }
            let sent = Instant::now();
            let renewed = tokio::select! {
                biased;
                () = self.stop.cancelled() => return None,
                () = sleep_until(self.deadline.at), if enforce => return Some(LostReason::Expired),
                renewed = self.session.renew() => renewed,
            };
            let now = Instant::now();
            match renewed {
                Ok(Some(ttl)) => {
                    next = self.deadline.renewed(sent, ttl);
                    self.pulses.emit(Event::Renewed {
                        ttl: self.deadline.ttl(),
                        deadline_in: self.deadline.at.saturating_duration_since(now),
                        latency: now - sent,
                    });
                    self.reaper.kick();
                }
                // 404: Consul already invalidated the session.
                Ok(None) => return Some(LostReason::Invalidated),
                Err(e) => {
                    next = self.deadline.failed(now);
                    self.pulses.emit(Event::RenewFailed {
                        error: e,
                        deadline_in: self.deadline.at.saturating_duration_since(now),
                    });
                }
            }
        }
    }
}

/// Watches our own session with blocking queries and reports the moment
/// Consul no longer has it (invalidated by a check, an operator, or
/// autopilot's dead-server cleanup), instead of at the next renew.
///
/// One long-poll per `wait`, whatever the number of names held.
pub(crate) async fn watch_session(
    session: Session,
    wait: Duration,
    stop: CancellationToken,
) -> Option<LostReason> {
    use futures_util::StreamExt;

    let config = consuela_client::WatchConfig::default().wait(wait);
    let mut answers = session.watch(config);
    loop {
        let answer = tokio::select! {
            biased;
            () = stop.cancelled() => return None,
            answer = answers.next() => answer?,
        };
        // Errors are the renewals' business: only a definite "gone" counts.
        if let Ok(answer) = answer
            && answer.value.is_none()
        {
            return Some(LostReason::Invalidated);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn deadline_is_send_time_plus_ttl_minus_margin() {
        let t0 = Instant::now();
        let mut d = Deadline::new(t0, 20 * S, S, Interval::Ratio(1, 2));
        assert_eq!(d.at, t0 + 19 * S);
        // A renew sent at t0+10 that took 3 s: the deadline counts from sending.
        assert_eq!(d.renewed(t0 + 10 * S, Some(20 * S)), t0 + 20 * S);
        assert_eq!(d.at, t0 + 29 * S);
    }

    #[test]
    fn adopts_a_ttl_raised_by_consul_but_never_a_lower_one() {
        let t0 = Instant::now();
        let mut d = Deadline::new(t0, 20 * S, Duration::ZERO, Interval::Ratio(1, 2));
        assert_eq!(d.renewed(t0, Some(60 * S)), t0 + 30 * S);
        assert_eq!(d.ttl(), 60 * S);
        assert_eq!(d.at, t0 + 60 * S);
        d.renewed(t0 + S, Some(10 * S));
        assert_eq!(d.ttl(), 60 * S);
        d.renewed(t0 + 2 * S, None);
        assert_eq!(d.at, t0 + 62 * S);
    }

    #[test]
    fn failures_retry_quickly_but_never_past_the_deadline() {
        let t0 = Instant::now();
        let d = Deadline::new(t0, 20 * S, Duration::ZERO, Interval::Ratio(1, 2));
        assert_eq!(d.failed(t0 + 10 * S), t0 + 11 * S);
        assert_eq!(
            d.failed(t0 + 19_500 * Duration::from_millis(1)),
            t0 + 20 * S
        );
        let fast = Deadline::new(
            t0,
            10 * S,
            Duration::ZERO,
            Interval::Fixed(Duration::from_millis(200)),
        );
        assert_eq!(fast.failed(t0), t0 + Duration::from_millis(100));
    }

    /// Issue: a Consul leader election of 15 s (measured on Consul 1.0.8 at
    /// default Raft timing) starts at any phase of the renew cycle. With the
    /// default interval the session has at least TTL − TTL/10 left whenever
    /// it starts; with the original's TTL/2 as little as TTL/2.
    #[test]
    fn the_default_schedule_leaves_nine_tenths_of_the_ttl_at_any_phase() {
        let t0 = Instant::now();
        let ttl = 20 * S;
        let worst = |interval| {
            let mut d = Deadline::new(t0, ttl, Duration::ZERO, interval);
            let mut sent = t0;
            let mut least = ttl;
            // Ten renew cycles; the outage starts at every 100 ms of each.
            for _ in 0..10 {
                let next = d.renewed(sent, Some(ttl));
                let mut outage = sent;
                while outage < next {
                    least = least.min(d.at - outage);
                    outage += Duration::from_millis(100);
                }
                // The renew due at `next` is the first the outage swallows.
                least = least.min(d.at - next);
                sent = next;
            }
            least
        };
        assert_eq!(worst(Interval::default()), 18 * S);
        assert!(worst(Interval::default()) > 15 * S);
        assert_eq!(worst(Interval::Ratio(1, 2)), 10 * S);
    }

    #[test]
    fn the_default_schedule_renews_every_tenth_of_the_ttl() {
        let t0 = Instant::now();
        let mut d = Deadline::new(t0, 20 * S, Duration::ZERO, Interval::default());
        assert_eq!(d.interval(), 2 * S);
        assert_eq!(d.renewed(t0, Some(20 * S)), t0 + 2 * S);
        // A renew that took 1.5 s: the next is due 2 s after it was sent.
        assert_eq!(d.renewed(t0 + 2 * S, Some(20 * S)), t0 + 4 * S);
        assert_eq!(d.at, t0 + 22 * S);
        // While Consul does not answer, retries every 500 ms up to the deadline.
        assert_eq!(d.failed(t0 + 5 * S), t0 + 5 * S + 5 * S / 10);
        assert_eq!(
            d.failed(t0 + 21_500 * Duration::from_millis(1)),
            t0 + 22 * S
        );
    }

    #[test]
    fn a_late_success_never_moves_the_deadline_back() {
        let t0 = Instant::now();
        let mut d = Deadline::new(t0 + 5 * S, 20 * S, Duration::ZERO, Interval::Ratio(1, 2));
        d.renewed(t0, Some(20 * S));
        assert_eq!(d.at, t0 + 25 * S);
    }
}
