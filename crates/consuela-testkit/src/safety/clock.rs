//! One clock for every process on the machine.
//!
//! `std::time::Instant` is opaque and per-process, and `tokio::time::Instant` cannot be sent to
//! another process, so events are stamped with `CLOCK_MONOTONIC` read directly: the same clock
//! in the harness and in every member process, unaffected by wall-clock steps, and still
//! advancing while a process is stopped with SIGSTOP.

use rustix::time::{ClockId, clock_gettime};

/// Nanoseconds of `CLOCK_MONOTONIC`, comparable across processes on this machine.
pub fn now_ns() -> u64 {
    let ts = clock_gettime(ClockId::Monotonic);
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_backwards() {
        let a = now_ns();
        let b = now_ns();
        assert!(a > 0 && b >= a);
    }
}
