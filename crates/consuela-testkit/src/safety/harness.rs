//! The safety run: dev server, member processes behind their own proxies, faults, and the
//! checks of Consul's state once the faults stop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use consuela_client::{Client, ClientConfig, QueryOptions};
use consuela_devserver::{DevServer, DevServerConfig};
use consuela_wire::SessionId;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use super::BoxError;
use super::checker::{CheckReport, IntervalEnd, check};
use super::clock::now_ns;
use super::history::{Event, HistoryWriter, read_history};
use super::member::{MemberArgs, MemberStatus};
use super::schedule::{CutMode, Fault, Schedule, ScheduleConfig, Step};
use crate::{FaultProxy, FaultProxyConfig, Latency, Mode, spawn_devserver_with};

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
        }
    }
}

/// What the checks after the run found.
#[derive(Debug, Clone, Default)]
pub struct PostRun {
    /// Members alive when the faults stopped.
    pub live_members: usize,
    /// Registrations members believed they held, each compared with Consul.
    pub beliefs_checked: usize,
    /// Everything that did not hold: lost registrations, keys of dead members, reaper queues
    /// that never drained, keys left after every member shut down.
    pub problems: Vec<String>,
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct SafetyReport {
    /// The seed.
    pub seed: u64,
    /// Members' counters summed (`attempts`, `acquired`, `conflicts`, `lock_delays`,
    /// `errors`), from each incarnation's last stats.
    pub operations: BTreeMap<&'static str, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Faults skipped because they did not apply (member down or paused, or an invalidation
    /// that the member could not have learned of), by kind.
    pub skipped: BTreeMap<&'static str, u64>,
    /// The checker's verdict.
    pub check: CheckReport,
    /// The post-run checks.
    pub post: PostRun,
    /// History lines that did not parse.
    pub bad_lines: usize,
    /// The history file.
    pub history: PathBuf,
}

impl SafetyReport {
    /// No violation and no post-run problem.
    pub fn is_ok(&self) -> bool {
        self.check.violations.is_empty() && self.post.problems.is_empty()
    }

    /// A human summary: figures, then the first violation with its history.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "seed {}; history {}", self.seed, self.history.display());
        let _ = writeln!(
            s,
            "operations: {} ownership intervals; {:?}",
            self.check.interval_count(),
            self.operations
        );
        let total: u64 = self.faults.values().sum();
        let _ = writeln!(s, "faults injected: {total} {:?}", self.faults);
        let _ = writeln!(s, "faults skipped: {:?}", self.skipped);
        let ended = |how| {
            self.check
                .intervals
                .values()
                .flatten()
                .filter(|i| i.how == how)
                .count()
        };
        let _ = writeln!(
            s,
            "intervals ended by release {}, by death {}, open {}; unmatched releases {}; bad lines {}",
            ended(IntervalEnd::Released),
            ended(IntervalEnd::Died),
            ended(IntervalEnd::Open),
            self.check.unmatched_releases,
            self.bad_lines
        );
        match &self.check.longest_run_after_invalidation {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "longest run after invalidation: {:.1} ms ({} on {}, {})",
                    r.nanos as f64 / 1e6,
                    r.member,
                    r.name,
                    r.cause
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "longest run after invalidation: none (no owner outlived its session)"
                );
            }
        }
        let _ = writeln!(
            s,
            "post-run: {} live members, {} beliefs checked, {} problems",
            self.post.live_members,
            self.post.beliefs_checked,
            self.post.problems.len()
        );
        for p in &self.post.problems {
            let _ = writeln!(s, "  problem: {p}");
        }
        let _ = writeln!(s, "violations: {}", self.check.violations.len());
        if let Some(v) = self.check.first_violation() {
            let _ = write!(s, "first violation: {v}");
        }
        s
    }
}

/// A running member process.
#[derive(Debug)]
pub(crate) struct Proc {
    pub(crate) label: String,
    pid: u32,
    pub(crate) child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    paused: bool,
}

impl Proc {
    /// Sends a command and reads the answer line (not to a paused process).
    async fn ask(&mut self, command: &str) -> Option<String> {
        if self.paused {
            return None;
        }
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .ok()?;
        self.stdin.flush().await.ok()?;
        timeout(Duration::from_secs(3), self.stdout.next_line())
            .await
            .ok()?
            .ok()?
    }

    async fn status(&mut self) -> Option<MemberStatus> {
        serde_json::from_str(&self.ask("status").await?).ok()
    }

    fn signal(&self, signal: rustix::process::Signal) {
        signal_pid(self.pid, signal);
    }
}

fn signal_pid(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

#[derive(Debug)]
struct Slot {
    incarnation: u32,
    proxy: FaultProxy,
    proc: Option<Proc>,
    cut_gen: u64,
    cut: bool,
    latency_gen: u64,
    latency: bool,
    /// Last time a fault on this member ended (offset from the run's start).
    disturbed: Duration,
    /// No network fault or pause before this: an invalidation is being learned of.
    quiet_until: Duration,
}

#[derive(Debug)]
enum Action {
    Apply(Fault),
    HealCut { slot: usize, generation: u64 },
    HealLatency { slot: usize, generation: u64 },
    Resume { slot: usize, incarnation: u32 },
    Start { slot: usize },
    HealNoLeader { generation: u64 },
}

struct Harness {
    config: SafetyConfig,
    server: DevServer,
    client: Client,
    history: HistoryWriter,
    namespace: String,
    slots: Vec<Slot>,
    begin: Instant,
    timeline: BTreeMap<(Duration, u64), Action>,
    seq: u64,
    no_leader_gen: u64,
    no_leader: bool,
    global_disturbed: Duration,
    global_quiet_until: Duration,
    faults: BTreeMap<&'static str, u64>,
    skipped: BTreeMap<&'static str, u64>,
}

/// The dev server config of safety runs: three nodes, TTLs down to 100 ms, and Consul's
/// *minimum* guarantee (a session expires exactly one TTL after its last renew, not two), the
/// harshest setting for the keeper.
pub(crate) fn devserver_config() -> DevServerConfig {
    DevServerConfig::fast().with_extra_nodes(["consul0", "consul1", "consul2"])
}

/// Runs a safety run and checks it.
///
/// Every member process is killed when this future ends or is dropped.
///
/// # Errors
///
/// When the run cannot be set up (dev server, proxies, processes, history file).
pub async fn run(config: SafetyConfig) -> Result<SafetyReport, BoxError> {
    let _ = std::fs::remove_file(&config.history);
    let history = HistoryWriter::open(&config.history)?;
    let server = spawn_devserver_with(devserver_config()).await;
    let client = Client::new(ClientConfig::new(server.url()))?;
    let namespace = format!("safety/{}-{}", config.seed, std::process::id());
    let mut slots = Vec::new();
    for _ in 0..config.members {
        let proxy_config = FaultProxyConfig {
            reset_on_mode_change: true,
            ..FaultProxyConfig::default()
        };
        slots.push(Slot {
            incarnation: 0,
            proxy: FaultProxy::start_with(server.local_addr(), proxy_config).await?,
            proc: None,
            cut_gen: 0,
            cut: false,
            latency_gen: 0,
            latency: false,
            disturbed: Duration::ZERO,
            quiet_until: Duration::ZERO,
        });
    }
    let mut h = Harness {
        config,
        server,
        client,
        history,
        namespace,
        slots,
        begin: Instant::now(),
        timeline: BTreeMap::new(),
        seq: 0,
        no_leader_gen: 0,
        no_leader: false,
        global_disturbed: Duration::ZERO,
        global_quiet_until: Duration::ZERO,
        faults: BTreeMap::new(),
        skipped: BTreeMap::new(),
    };
    for slot in 0..h.slots.len() {
        h.start_member(slot)?;
    }
    h.wait_members_running(Duration::from_secs(20)).await;

    let stop_polling = CancellationToken::new();
    let poller = tokio::spawn(poll_sessions(
        h.server.state().clone(),
        h.history.clone(),
        stop_polling.clone(),
    ));

    h.begin = Instant::now();
    let steps = match &h.config.faults {
        FaultPlan::None => Vec::new(),
        FaultPlan::Random => {
            Schedule::generate(
                h.config.seed,
                &ScheduleConfig {
                    members: h.config.members,
                    duration: h.config.duration,
                    warmup: Duration::from_millis(500),
                    gap: h.config.gap,
                    ttl: h.config.ttl,
                    lock_delay: h.config.lock_delay,
                },
            )
            .steps
        }
        FaultPlan::Script(steps) => steps.clone(),
    };
    for step in steps {
        h.at(step.at, Action::Apply(step.fault));
    }
    while let Some(((at, _), action)) = h.timeline.pop_first() {
        sleep_until(h.begin + at).await;
        h.apply(action).await;
    }
    sleep_until(h.begin + h.config.duration).await;

    let post = h.post_run().await;
    stop_polling.cancel();
    let _ = poller.await;
    let Harness {
        config,
        server,
        slots,
        faults,
        skipped,
        ..
    } = h;
    for slot in slots {
        slot.proxy.shutdown().await;
    }
    server.shutdown().await;

    let (events, bad_lines) = read_history(&config.history)?;
    let mut last_stats: BTreeMap<&str, [u64; 5]> = BTreeMap::new();
    for event in &events {
        if let Event::Stats {
            member,
            attempts,
            acquired,
            conflicts,
            lock_delays,
            errors,
            ..
        } = event
        {
            last_stats.insert(
                member,
                [*attempts, *acquired, *conflicts, *lock_delays, *errors],
            );
        }
    }
    let mut operations = BTreeMap::new();
    for (i, key) in ["attempts", "acquired", "conflicts", "lock_delays", "errors"]
        .into_iter()
        .enumerate()
    {
        operations.insert(key, last_stats.values().map(|s| s[i]).sum());
    }
    Ok(SafetyReport {
        seed: config.seed,
        operations,
        faults,
        skipped,
        check: check(&events),
        post,
        bad_lines,
        history: config.history,
    })
}

/// Records `SessionGone` the first time a known session is missing from the dev server.
async fn poll_sessions(
    state: consuela_devserver::ServerState,
    history: HistoryWriter,
    stop: CancellationToken,
) {
    let mut known = BTreeSet::new();
    while !stop.is_cancelled() {
        let now = session_ids(&state.dump());
        let t = now_ns();
        for gone in known.difference(&now) {
            history.record(&Event::SessionGone {
                session: String::clone(gone),
                t,
            });
        }
        known = now;
        tokio::select! {
            () = stop.cancelled() => {}
            () = sleep(Duration::from_millis(20)) => {}
        }
    }
}

pub(crate) fn session_ids(dump: &serde_json::Value) -> BTreeSet<String> {
    match &dump["Sessions"] {
        serde_json::Value::Object(map) => map.keys().cloned().collect(),
        serde_json::Value::Array(list) => list
            .iter()
            .filter_map(|s| {
                s["Session"]["ID"]
                    .as_str()
                    .or_else(|| s["ID"].as_str())
                    .map(str::to_owned)
            })
            .collect(),
        _ => BTreeSet::new(),
    }
}

impl Harness {
    fn now(&self) -> Duration {
        self.begin.elapsed()
    }

    fn at(&mut self, at: Duration, action: Action) {
        self.seq += 1;
        self.timeline.insert((at, self.seq), action);
    }

    fn after(&mut self, delay: Duration, action: Action) {
        let at = self.now() + delay;
        self.at(at, action);
    }

    fn fault_event(&self, kind: &str, slot: Option<usize>, detail: String) {
        let member = slot.and_then(|s| self.slots[s].proc.as_ref().map(|p| p.label.clone()));
        self.history.record(&Event::Fault {
            kind: kind.to_owned(),
            member,
            detail,
            t: now_ns(),
        });
    }

    fn member_args(&self, slot: usize, label: &str) -> MemberArgs {
        let c = &self.config;
        MemberArgs {
            history: c.history.clone(),
            url: self.slots[slot].proxy.url(),
            member: label.to_owned(),
            node: format!("consul{}", slot % 3),
            namespace: self.namespace.clone(),
            names: c.names.clone(),
            seed: c
                .seed
                .wrapping_mul(1000)
                .wrapping_add((slot as u64) << 16 | u64::from(self.slots[slot].incarnation)),
            ttl: c.ttl,
            lock_delay: c.lock_delay,
            hold: c.hold,
            workers: c.workers,
            renew_fraction: 4,
            watch_session: c.watch_session,
            unsafe_ignore_deadline: c.unsafe_ignore_deadline,
        }
    }

    fn start_member(&mut self, slot: usize) -> Result<(), BoxError> {
        self.slots[slot].incarnation += 1;
        let label = format!("m{slot}.{}", self.slots[slot].incarnation);
        let args = self.member_args(slot, &label);
        let proc = spawn_member(
            &self.config.member_program,
            &self.config.member_prefix,
            &args,
            &self.history,
        )?;
        self.slots[slot].proc = Some(proc);
        Ok(())
    }

    async fn wait_members_running(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        for slot in &mut self.slots {
            while Instant::now() < deadline {
                let Some(proc) = slot.proc.as_mut() else {
                    break;
                };
                if proc.status().await.is_some_and(|s| s.running) {
                    break;
                }
                sleep(Duration::from_millis(20)).await;
            }
        }
    }

    fn skip(&mut self, kind: &'static str) {
        *self.skipped.entry(kind).or_default() += 1;
    }

    fn count(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
    }

    /// Whether a network fault or pause may hit `slot` now.
    fn may_disturb(&self, slot: usize) -> bool {
        let now = self.now();
        let s = &self.slots[slot];
        s.proc.is_some() && now >= s.quiet_until && now >= self.global_quiet_until
    }

    async fn apply(&mut self, action: Action) {
        match action {
            Action::Apply(fault) => self.apply_fault(fault).await,
            Action::HealCut { slot, generation } => {
                if self.slots[slot].cut_gen == generation && self.slots[slot].cut {
                    self.slots[slot].proxy.set_mode(Mode::Pass);
                    self.slots[slot].cut = false;
                    self.slots[slot].disturbed = self.now();
                    self.fault_event("cut-heal", Some(slot), String::new());
                }
            }
            Action::HealLatency { slot, generation } => {
                if self.slots[slot].latency_gen == generation && self.slots[slot].latency {
                    self.slots[slot].proxy.set_latency(Latency::default());
                    self.slots[slot].latency = false;
                    self.slots[slot].disturbed = self.now();
                    self.fault_event("latency-heal", Some(slot), String::new());
                }
            }
            Action::Resume { slot, incarnation } => {
                if self.slots[slot].incarnation == incarnation {
                    self.resume(slot);
                }
            }
            Action::Start { slot } => {
                if self.slots[slot].proc.is_none() {
                    let _ = self.start_member(slot);
                }
            }
            Action::HealNoLeader { generation } => {
                if self.no_leader_gen == generation && self.no_leader {
                    self.server.clear_no_leader();
                    self.no_leader = false;
                    self.global_disturbed = self.now();
                    self.fault_event("no-leader-heal", None, String::new());
                }
            }
        }
    }

    fn resume(&mut self, slot: usize) {
        let now = self.now();
        let s = &mut self.slots[slot];
        if let Some(proc) = s.proc.as_mut()
            && proc.paused
        {
            proc.signal(rustix::process::Signal::CONT);
            proc.paused = false;
            s.disturbed = now;
            self.fault_event("pause-heal", Some(slot), String::new());
        }
    }

    async fn apply_fault(&mut self, fault: Fault) {
        let kind = fault.kind();
        match fault {
            Fault::Cut { member, mode, for_ } => {
                if !self.may_disturb(member) {
                    return self.skip(kind);
                }
                let s = &mut self.slots[member];
                s.cut_gen += 1;
                s.cut = true;
                s.proxy.set_mode(match mode {
                    CutMode::Stop => Mode::Stop,
                    CutMode::Ignore => Mode::Ignore,
                });
                let generation = s.cut_gen;
                self.fault_event(kind, Some(member), format!("{for_:?}"));
                self.after(
                    for_,
                    Action::HealCut {
                        slot: member,
                        generation,
                    },
                );
            }
            Fault::Latency {
                member,
                delay,
                for_,
            } => {
                if !self.may_disturb(member) {
                    return self.skip(kind);
                }
                let s = &mut self.slots[member];
                s.latency_gen += 1;
                s.latency = true;
                s.proxy.set_latency(Latency::both(delay));
                let generation = s.latency_gen;
                self.fault_event(kind, Some(member), format!("{delay:?} for {for_:?}"));
                self.after(
                    for_,
                    Action::HealLatency {
                        slot: member,
                        generation,
                    },
                );
            }
            Fault::Pause { member, for_ } => {
                if !self.may_disturb(member)
                    || self.slots[member].proc.as_ref().is_some_and(|p| p.paused)
                {
                    return self.skip(kind);
                }
                let s = &mut self.slots[member];
                let incarnation = s.incarnation;
                if let Some(proc) = s.proc.as_mut() {
                    proc.signal(rustix::process::Signal::STOP);
                    proc.paused = true;
                    // SIGCONT on time even if the control loop is busy (a graceful restart
                    // can hold it for seconds): a pause stretched past TTL + lock-delay would
                    // be the harness's overlap, not the registry's. `Resume` then only
                    // records it.
                    let pid = proc.pid;
                    tokio::spawn(async move {
                        sleep(for_).await;
                        signal_pid(pid, rustix::process::Signal::CONT);
                    });
                }
                self.fault_event(kind, Some(member), format!("{for_:?}"));
                self.after(
                    for_,
                    Action::Resume {
                        slot: member,
                        incarnation,
                    },
                );
            }
            Fault::Kill {
                member,
                restart_after,
            } => {
                if self.slots[member].proc.is_none() {
                    return self.skip(kind);
                }
                self.fault_event(
                    kind,
                    Some(member),
                    format!("restart after {restart_after:?}"),
                );
                self.kill(member).await;
                self.after(restart_after, Action::Start { slot: member });
            }
            Fault::Restart { member } => {
                if self.slots[member].proc.is_none() {
                    return self.skip(kind);
                }
                self.fault_event(kind, Some(member), String::new());
                self.resume(member);
                self.terminate(member).await;
                let _ = self.start_member(member);
            }
            Fault::Invalidate { member } => {
                // Only a member that can learn of it well within the lock-delay: reachable
                // and running. Its session watch may still be backing off after an earlier
                // fault, but its next renew (at most TTL/4 away) answers 404.
                let now = self.now();
                let settle = Duration::from_millis(200);
                let s = &self.slots[member];
                let calm = s.proc.as_ref().is_some_and(|p| !p.paused)
                    && !s.cut
                    && !s.latency
                    && !self.no_leader
                    && now >= s.disturbed + settle
                    && now >= self.global_disturbed + settle;
                if !calm {
                    return self.skip(kind);
                }
                let Some(status) = self.slots[member].proc.as_mut().unwrap().status().await else {
                    return self.skip(kind);
                };
                let (Some(session), true) = (status.session, status.running) else {
                    return self.skip(kind);
                };
                if !self
                    .server
                    .invalidate_session(&SessionId::new(session.clone()))
                {
                    return self.skip(kind);
                }
                self.history.record(&Event::Invalidated {
                    member: status.member,
                    session,
                    t: now_ns(),
                });
                let quiet = self.now() + self.config.lock_delay + Duration::from_millis(500);
                self.slots[member].quiet_until = quiet;
                self.global_quiet_until = self.global_quiet_until.max(quiet);
            }
            Fault::NoLeader { for_ } => {
                if self.now() < self.global_quiet_until || self.no_leader {
                    return self.skip(kind);
                }
                self.no_leader_gen += 1;
                self.no_leader = true;
                self.server.set_no_leader(None);
                self.fault_event(kind, None, format!("{for_:?}"));
                let generation = self.no_leader_gen;
                self.after(for_, Action::HealNoLeader { generation });
            }
            Fault::CutHolder { name, mode, for_ } => {
                let holder = read_history(&self.config.history)
                    .ok()
                    .and_then(|(events, _)| {
                        check(&events).intervals.get(&name).and_then(|list| {
                            list.iter()
                                .find(|i| i.how == IntervalEnd::Open)
                                .map(|i| i.member.clone())
                        })
                    });
                let slot = holder.and_then(|label| {
                    self.slots
                        .iter()
                        .position(|s| s.proc.as_ref().is_some_and(|p| p.label == label))
                });
                let Some(member) = slot else {
                    return self.skip(kind);
                };
                return Box::pin(self.apply_fault(Fault::Cut { member, mode, for_ })).await;
            }
        }
        self.count(kind);
    }

    async fn kill(&mut self, slot: usize) {
        if let Some(mut proc) = self.slots[slot].proc.take() {
            let _ = proc.child.start_kill();
            let _ = proc.child.wait().await;
            self.history.record(&Event::Killed {
                member: proc.label,
                t: now_ns(),
            });
        }
    }

    /// SIGTERM, then SIGKILL if the member does not exit within a few seconds.
    async fn terminate(&mut self, slot: usize) {
        let Some(mut proc) = self.slots[slot].proc.take() else {
            return;
        };
        proc.signal(rustix::process::Signal::TERM);
        match timeout(Duration::from_secs(8), proc.child.wait()).await {
            Ok(status) => self.history.record(&Event::Exited {
                member: proc.label,
                code: status.ok().and_then(|s| s.code()),
                t: now_ns(),
            }),
            Err(_) => {
                self.slots[slot].proc = Some(proc);
                self.kill(slot).await;
            }
        }
    }

    /// Heals everything, lets the members settle, compares what they believe with Consul,
    /// shuts them down, and checks that nothing is left.
    async fn post_run(&mut self) -> PostRun {
        let mut post = PostRun::default();
        self.fault_event("heal-all", None, String::new());
        self.server.reset_faults();
        for slot in 0..self.slots.len() {
            self.slots[slot].proxy.set_mode(Mode::Pass);
            self.slots[slot].proxy.set_latency(Latency::default());
            self.slots[slot].cut = false;
            self.slots[slot].latency = false;
            self.resume(slot);
        }
        let ttl = self.config.ttl;
        let settle = 3 * ttl + self.config.lock_delay + Duration::from_secs(15);

        // 1. Every live member runs a registry whose session Consul has, and Consul has no
        //    other session (those of dead members expired).
        let deadline = Instant::now() + settle;
        let mut last = String::new();
        loop {
            let statuses = self.statuses().await;
            let consul = session_ids(&self.server.state().dump());
            let live: BTreeSet<String> =
                statuses.iter().filter_map(|s| s.session.clone()).collect();
            let all_running = statuses.len() == self.live() && statuses.iter().all(|s| s.running);
            if all_running && live == consul {
                break;
            }
            last = format!("members {statuses:?}; consul sessions {consul:?}");
            if Instant::now() > deadline {
                post.problems
                    .push(format!("sessions never settled after healing: {last}"));
                break;
            }
            sleep(Duration::from_millis(50)).await;
        }
        let _ = last;

        // 2. Freeze: no new attempts; running futures keep their names. Wait until nothing
        //    is in flight and every reaper queue drained.
        for slot in &mut self.slots {
            if let Some(proc) = slot.proc.as_mut() {
                let _ = proc.ask("hold").await;
            }
        }
        let deadline = Instant::now() + settle;
        let statuses = loop {
            let statuses = self.statuses().await;
            let quiet = statuses.len() == self.live()
                && statuses
                    .iter()
                    .all(|s| s.running && s.inflight == 0 && s.reaper_queue == 0);
            if quiet {
                break statuses;
            }
            if Instant::now() > deadline {
                post.problems.push(format!(
                    "reaper queues never drained (or members never settled): {statuses:?}"
                ));
                break statuses;
            }
            sleep(Duration::from_millis(50)).await;
        };
        post.live_members = statuses.len();

        // 3. Every registration a member believes it holds is in Consul, under its session,
        //    with its fencing token; and every key belongs to a live member that knows it.
        let prefix = format!("{}/", self.namespace);
        let entries = self
            .client
            .kv()
            .list(&prefix, QueryOptions::new())
            .await
            .map(|r| r.value)
            .unwrap_or_default();
        let mut in_consul: BTreeMap<String, (Option<String>, u64)> = BTreeMap::new();
        for e in entries {
            let name = e.key.strip_prefix(&prefix).unwrap_or(&e.key).to_owned();
            in_consul.insert(
                name,
                (e.session.map(|s| s.as_str().to_owned()), e.modify_index.0),
            );
        }
        let mut believed: BTreeMap<String, (String, u64, String)> = BTreeMap::new();
        for status in &statuses {
            for (name, token) in &status.held {
                post.beliefs_checked += 1;
                let session = status.session.clone().unwrap_or_default();
                match in_consul.get(name) {
                    Some((Some(s), index)) if *s == session && *index == *token => {}
                    other => post.problems.push(format!(
                        "lost registration: {} believes it holds {name} (token {token}, session {session}) but Consul has {other:?}",
                        status.member
                    )),
                }
                if let Some((other, ..)) =
                    believed.insert(name.clone(), (status.member.clone(), *token, session))
                {
                    post.problems.push(format!(
                        "{name} believed held by both {other} and {}",
                        status.member
                    ));
                }
            }
        }
        for (name, (session, index)) in &in_consul {
            if !believed.contains_key(name) {
                post.problems.push(format!(
                    "orphan key {name} (session {session:?}, index {index}): no live member believes it holds it"
                ));
            }
        }

        // 4. Graceful shutdown of everyone: nothing may remain.
        for slot in 0..self.slots.len() {
            self.terminate(slot).await;
        }
        let deadline = Instant::now() + 2 * ttl + Duration::from_secs(5);
        loop {
            let keys = self
                .client
                .kv()
                .keys(&prefix, None, QueryOptions::new())
                .await
                .map(|r| r.value)
                .unwrap_or_default();
            let sessions = session_ids(&self.server.state().dump());
            if keys.is_empty() && sessions.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                post.problems.push(format!(
                    "after every member shut down, Consul still has keys {keys:?} and sessions {sessions:?}"
                ));
                break;
            }
            sleep(Duration::from_millis(50)).await;
        }
        post
    }

    fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.proc.is_some()).count()
    }

    async fn statuses(&mut self) -> Vec<MemberStatus> {
        let mut out = Vec::new();
        for slot in &mut self.slots {
            if let Some(proc) = slot.proc.as_mut()
                && let Some(status) = proc.status().await
            {
                out.push(status);
            }
        }
        out
    }
}

/// Starts a member process and records `Started`.
pub(crate) fn spawn_member(
    program: &PathBuf,
    prefix: &[String],
    args: &MemberArgs,
    history: &HistoryWriter,
) -> Result<Proc, BoxError> {
    let mut child = Command::new(program)
        .args(prefix)
        .args(args.to_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let pid = child.id().ok_or("the member exited at once")?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    history.record(&Event::Started {
        member: args.member.clone(),
        pid,
        t: now_ns(),
    });
    Ok(Proc {
        label: args.member.clone(),
        pid,
        child,
        stdin,
        stdout,
        paused: false,
    })
}
