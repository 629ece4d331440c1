//! What a safety run is configured with: its [`SafetyConfig`], its [`FaultPlan`], and the dev
//! server it runs against.

use std::path::PathBuf;
use std::time::Duration;

use consuela_devserver::DevServerConfig;

use super::schedule::{Schedule, ScheduleConfig, Step};

/// Which faults a run injects.
#[derive(Debug, Clone)]
pub enum FaultPlan {
    /// None: a baseline.
    None,
    /// [`Schedule::generate`] from the run's seed.
    Random,
    /// Exactly these.
    Script(Vec<Step>),
}

/// A safety run's parameters.
#[derive(Debug, Clone)]
pub struct SafetyConfig {
    /// The member binary.
    pub member_program: PathBuf,
    /// Arguments before the member arguments (e.g. a subcommand).
    pub member_prefix: Vec<String>,
    /// Member processes at once.
    pub members: usize,
    /// Names contended for.
    pub names: Vec<String>,
    /// How long faults are injected.
    pub duration: Duration,
    /// Seed of the schedule and of the members' choices.
    pub seed: u64,
    /// Session TTL.
    pub ttl: Duration,
    /// Session lock-delay.
    pub lock_delay: Duration,
    /// Shortest and longest hold of a name.
    pub hold: (Duration, Duration),
    /// Workers per member.
    pub workers: usize,
    /// `keeper.watch_session` in the members.
    pub watch_session: bool,
    /// Members ignore their keeper's deadline (needs the `unsafe-ignore-deadline` feature).
    pub unsafe_ignore_deadline: bool,
    /// The faults.
    pub faults: FaultPlan,
    /// Gap between random faults.
    pub gap: (Duration, Duration),
    /// The history file (replaced).
    pub history: PathBuf,
    /// `Some(N)`: the names are semaphores of N slots (`Registry::spawn_limited`), and the
    /// checker allows N holders at once instead of one.
    pub limit: Option<u32>,
}

impl SafetyConfig {
    /// A CI-sized run: `members` members, five names, TTL 2 s, lock-delay 1 s, random faults.
    pub fn new(member_program: impl Into<PathBuf>, history: impl Into<PathBuf>) -> Self {
        Self {
            member_program: member_program.into(),
            member_prefix: Vec::new(),
            members: 4,
            names: (0..5).map(|i| format!("space/acceptor-{i}")).collect(),
            duration: Duration::from_secs(25),
            seed: 1,
            ttl: Duration::from_secs(2),
            lock_delay: Duration::from_secs(1),
            hold: (Duration::from_millis(20), Duration::from_millis(600)),
            workers: 2,
            watch_session: true,
            unsafe_ignore_deadline: false,
            faults: FaultPlan::Random,
            gap: (Duration::from_millis(150), Duration::from_millis(700)),
            history: history.into(),
            limit: None,
        }
    }

    /// The faults of the run, in time order: what [`Self::faults`] stands for with this
    /// seed, member count, duration, gap, TTL and lock-delay.
    pub(crate) fn steps(&self) -> Vec<Step> {
        match &self.faults {
            FaultPlan::None => Vec::new(),
            FaultPlan::Random => {
                Schedule::generate(
                    self.seed,
                    &ScheduleConfig {
                        members: self.members,
                        duration: self.duration,
                        warmup: Duration::from_millis(500),
                        gap: self.gap,
                        ttl: self.ttl,
                        lock_delay: self.lock_delay,
                    },
                )
                .steps
            }
            FaultPlan::Script(steps) => steps.clone(),
        }
    }
}

/// The dev server config of safety runs: three nodes, TTLs down to 100 ms, and Consul's
/// *minimum* guarantee (a session expires exactly one TTL after its last renew, not two), the
/// harshest setting for the keeper.
pub(crate) fn devserver_config() -> DevServerConfig {
    DevServerConfig::fast().with_extra_nodes(["consul0", "consul1", "consul2"])
}
