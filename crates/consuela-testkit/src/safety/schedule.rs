//! A random fault schedule, reproducible from a seed.

use std::time::Duration;

/// How a member's proxy cuts it off from Consul.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutMode {
    /// Close connections ([`Mode::Stop`](crate::Mode::Stop)): requests fail fast.
    Stop,
    /// Black-hole them ([`Mode::Ignore`](crate::Mode::Ignore)): requests time out.
    Ignore,
}

/// One fault. Each either heals itself after `for_` or is a one-shot event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Cut member `member` off from Consul for `for_`.
    Cut {
        /// Member slot.
        member: usize,
        /// How.
        mode: CutMode,
        /// For how long.
        for_: Duration,
    },
    /// Add `delay` per chunk each way on the member's proxy for `for_`.
    Latency {
        /// Member slot.
        member: usize,
        /// Per chunk, each way.
        delay: Duration,
        /// For how long.
        for_: Duration,
    },
    /// SIGSTOP the member, SIGCONT it after `for_`.
    Pause {
        /// Member slot.
        member: usize,
        /// For how long.
        for_: Duration,
    },
    /// SIGKILL the member, start a new incarnation after `restart_after`.
    Kill {
        /// Member slot.
        member: usize,
        /// Delay before the new incarnation starts.
        restart_after: Duration,
    },
    /// SIGTERM the member (graceful shutdown), then start a new incarnation.
    Restart {
        /// Member slot.
        member: usize,
    },
    /// Invalidate the member's session through the dev server, early (as autopilot's
    /// dead-server cleanup would). Applied only to a member that is reachable, so that it can
    /// learn of it at once: the unreachable case is the known hole, measured separately.
    Invalidate {
        /// Member slot.
        member: usize,
    },
    /// Make the dev server answer 500 `No cluster leader` to everyone for `for_`.
    NoLeader {
        /// For how long.
        for_: Duration,
    },
    /// Cut off whichever member holds `name` now (read from the history), for scripted runs.
    CutHolder {
        /// The name.
        name: String,
        /// How.
        mode: CutMode,
        /// For how long.
        for_: Duration,
    },
}

impl Fault {
    /// A short name for counting faults by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Cut {
                mode: CutMode::Stop,
                ..
            } => "cut-stop",
            Self::Cut {
                mode: CutMode::Ignore,
                ..
            } => "cut-ignore",
            Self::Latency { .. } => "latency",
            Self::Pause { .. } => "pause",
            Self::Kill { .. } => "kill",
            Self::Restart { .. } => "restart",
            Self::Invalidate { .. } => "invalidate",
            Self::NoLeader { .. } => "no-leader",
            Self::CutHolder { .. } => "cut-holder",
        }
    }
}

/// A fault at an offset from the start of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// When, from the start of the run.
    pub at: Duration,
    /// What.
    pub fault: Fault,
}

/// Parameters of a random schedule.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// Member slots.
    pub members: usize,
    /// Faults are injected from `warmup` to `duration`.
    pub duration: Duration,
    /// No faults before this.
    pub warmup: Duration,
    /// Shortest and longest gap between two faults.
    pub gap: (Duration, Duration),
    /// The members' session TTL (cuts range up to 2.5 TTL, so some outlive the session).
    pub ttl: Duration,
    /// The members' lock-delay. Pauses stay shorter: a longer pause can outlive the session
    /// *and* the lock-delay, which no lease-based scheme survives without fencing (see
    /// ARCHITECTURE.md, safety argument step 4).
    pub lock_delay: Duration,
}

/// A seeded fault schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The seed it was generated from.
    pub seed: u64,
    /// The faults, in time order.
    pub steps: Vec<Step>,
}

impl Schedule {
    /// Generates the schedule for `seed`: the same seed and config always give the same steps.
    pub fn generate(seed: u64, config: &ScheduleConfig) -> Self {
        let mut rng = Rng::new(seed);
        let mut steps = Vec::new();
        let mut at = config.warmup;
        let members = config.members.max(1);
        loop {
            at += rng.between(config.gap.0, config.gap.1);
            if at >= config.duration {
                break;
            }
            let member = rng.below(members as u64) as usize;
            let ttl = config.ttl;
            let fault = match rng.below(100) {
                0..=14 => Fault::Cut {
                    member,
                    mode: CutMode::Stop,
                    for_: rng.between(ttl / 8, ttl * 5 / 2),
                },
                15..=27 => Fault::Cut {
                    member,
                    mode: CutMode::Ignore,
                    for_: rng.between(ttl / 8, ttl * 5 / 2),
                },
                28..=41 => Fault::Latency {
                    member,
                    delay: rng.between(Duration::from_millis(20), Duration::from_millis(250)),
                    for_: rng.between(ttl / 4, ttl * 2),
                },
                42..=55 => Fault::Pause {
                    member,
                    for_: rng.between(config.lock_delay / 10, config.lock_delay * 7 / 10),
                },
                56..=64 => Fault::Kill {
                    member,
                    restart_after: rng.between(Duration::from_millis(100), ttl),
                },
                65..=73 => Fault::Restart { member },
                74..=89 => Fault::Invalidate { member },
                _ => Fault::NoLeader {
                    for_: rng.between(ttl / 10, ttl * 3 / 2),
                },
            };
            steps.push(Step { at, fault });
        }
        Self { seed, steps }
    }
}

/// SplitMix64: tiny, and its output for a seed never changes with a dependency upgrade.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), up to a negligible bias.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`, at millisecond resolution.
    pub(crate) fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let lo_ms = lo.as_millis() as u64;
        let hi_ms = (hi.as_millis() as u64).max(lo_ms);
        Duration::from_millis(lo_ms + self.below(hi_ms - lo_ms + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ScheduleConfig {
        ScheduleConfig {
            members: 4,
            duration: Duration::from_secs(60),
            warmup: Duration::from_secs(1),
            gap: (Duration::from_millis(200), Duration::from_millis(800)),
            ttl: Duration::from_secs(2),
            lock_delay: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let a = Schedule::generate(7, &config());
        let b = Schedule::generate(7, &config());
        let c = Schedule::generate(8, &config());
        assert_eq!(a.steps, b.steps);
        assert_ne!(a.steps, c.steps);
        assert!(a.steps.len() > 50);
    }

    #[test]
    fn every_kind_appears_and_pauses_stay_under_the_lock_delay() {
        let config = config();
        let s = Schedule::generate(1, &config);
        let mut kinds: Vec<_> = s.steps.iter().map(|s| s.fault.kind()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), 8, "{kinds:?}");
        assert!(!kinds.contains(&"cut-holder"));
        for step in &s.steps {
            assert!(step.at >= config.warmup && step.at < config.duration);
            if let Fault::Pause { for_, .. } = step.fault {
                assert!(for_ < config.lock_delay);
            }
        }
        assert!(s.steps.windows(2).all(|w| w[0].at <= w[1].at));
    }
}
