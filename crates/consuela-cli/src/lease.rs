//! The lease consuela gives its guardian: the moment ownership ends unless
//! consuela renews it, on a clock both processes share.
//!
//! The guardian stops the command's tree when the lease runs out, even if
//! consuela is stopped (SIGSTOP) or stuck and cannot tell it: consuela's
//! keeper sends a new lease after every successful renew, as an absolute
//! `CLOCK_MONOTONIC` time (the machine's clock, unaffected by wall-clock
//! steps and by how late the message is read), so a delayed message can only
//! carry an earlier end, never a later one.

use std::time::Duration;

use rustix::time::{ClockId, clock_gettime};
use tokio::time::Instant;

/// Nanoseconds of `CLOCK_MONOTONIC`, comparable across processes on this machine.
pub(crate) fn now_ns() -> u64 {
    let ts = clock_gettime(ClockId::Monotonic);
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// The lease ending `from_now` after now, as `CLOCK_MONOTONIC` nanoseconds.
pub(crate) fn until(from_now: Duration) -> u64 {
    now_ns().saturating_add(u64::try_from(from_now.as_nanos()).unwrap_or(u64::MAX))
}

/// The control message carrying a lease.
pub(crate) fn message(until_ns: u64) -> String {
    format!("lease {until_ns}\n")
}

/// The lease end a control line carries, if it is a lease.
pub(crate) fn parse(line: &str) -> Option<u64> {
    line.strip_prefix("lease ")?.trim().parse().ok()
}

/// The local instant of a lease end (in the past if it has run out).
pub(crate) fn instant(until_ns: u64) -> Instant {
    let now = Instant::now();
    let now_ns = now_ns();
    match until_ns.checked_sub(now_ns) {
        Some(left) => now + Duration::from_nanos(left),
        None => now
            .checked_sub(Duration::from_nanos(now_ns - until_ns))
            .unwrap_or(now),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_travel_as_absolute_times() {
        let end = until(Duration::from_secs(5));
        assert_eq!(parse(&message(end)), Some(end));
        assert_eq!(parse("stop"), None);
        assert_eq!(parse("lease x"), None);
        let at = instant(end);
        let left = at - Instant::now();
        assert!(
            left <= Duration::from_secs(5) && left > Duration::from_secs(4),
            "{left:?}"
        );
        assert!(instant(0) <= Instant::now());
    }
}
