//! Driving operations with a fixed number in flight, and what is measured
//! around them: latency percentiles, resident memory, load average.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Latency percentiles of a run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Latency {
    pub(super) p50: Duration,
    pub(super) p90: Duration,
    pub(super) p99: Duration,
    pub(super) max: Duration,
    pub(super) mean: Duration,
}

impl Latency {
    /// Percentiles of samples in nanoseconds (sorted here). `None` if empty.
    pub(super) fn from_nanos(mut samples: Vec<u64>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |p: f64| {
            let i = ((samples.len() as f64 * p).ceil() as usize).saturating_sub(1);
            Duration::from_nanos(samples[i.min(samples.len() - 1)])
        };
        let sum: u128 = samples.iter().map(|&n| u128::from(n)).sum();
        Some(Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
            mean: Duration::from_nanos((sum / samples.len() as u128) as u64),
        })
    }
}

/// How long a timed run goes on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    pub(super) concurrency: usize,
    pub(super) ops: u64,
    pub(super) time: Duration,
}

/// What a timed run measured.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) ops: u64,
    pub(super) elapsed: Duration,
    pub(super) latency: Option<Latency>,
}

/// Runs `op(i)` for i = 0, 1, ... with `budget.concurrency` calls in flight,
/// until `budget.ops` calls were made or `budget.time` passed. Each call's
/// latency is recorded; the first error ends the run.
pub(super) async fn drive<F, Fut>(budget: Budget, op: F) -> anyhow::Result<Run>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + budget.time;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..budget.concurrency {
        let (op, next) = (op.clone(), next.clone());
        let ops = budget.ops;
        workers.spawn(async move {
            let mut samples = Vec::with_capacity(1024);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ops || Instant::now() >= deadline {
                    return Ok::<_, anyhow::Error>(samples);
                }
                let t = Instant::now();
                op(i).await?;
                samples.push(t.elapsed().as_nanos() as u64);
            }
        });
    }
    let mut samples = Vec::new();
    while let Some(joined) = workers.join_next().await {
        samples.extend(joined??);
    }
    Ok(Run {
        ops: samples.len() as u64,
        elapsed: started.elapsed(),
        latency: Latency::from_nanos(samples),
    })
}

/// CPU time this process (every thread) has used so far: in all, and in
/// user space alone. The split matters because both sides of a comparison
/// make the same system calls: user time is the code that differs.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Cpu {
    /// User and system time (what getrusage(RUSAGE_SELF) sums), to the nanosecond.
    pub(super) total: Duration,
    /// User time, in clock ticks (10 ms) as `/proc/self/stat` counts them.
    pub(super) user: Duration,
}

impl std::ops::Sub for Cpu {
    type Output = Self;

    fn sub(self, earlier: Self) -> Self {
        Self {
            total: self.total.saturating_sub(earlier.total),
            user: self.user.saturating_sub(earlier.user),
        }
    }
}

/// The CPU time this process has used so far.
pub(super) fn cpu_time() -> Cpu {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let total = Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    );
    Cpu {
        total,
        user: user_time().unwrap_or_default(),
    }
}

/// `utime` of `/proc/self/stat` (field 14, after the parenthesised name),
/// in Linux's fixed 100 ticks per second.
fn user_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = rest.split_whitespace().nth(11)?.parse().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Resident memory of this process (VmRSS), in KiB; 0 where unknown.
pub(super) fn rss_kib() -> u64 {
    rss_kib_of("self")
}

/// Resident memory of process `pid` (`self` for this one), in KiB.
pub(super) fn rss_kib_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` shows them.
pub(super) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

/// A small, fast, deterministic PRNG (splitmix64) for the churn mix.
pub(super) fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
