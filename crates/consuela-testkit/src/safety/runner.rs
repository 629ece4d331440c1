//! The runner safety run: `consuela run --wait` processes whose commands fork
//! (a background job, a double fork, a `setsid` daemon), under partitions,
//! pauses and SIGKILLs of the runner, checked for two process trees of one
//! name alive at once.
//!
//! Every process of every command appends a heartbeat `NAME TOKEN NANOS`
//! (`CLOCK_REALTIME`, one clock for the whole machine) to one file every
//! 100 ms. A tree is alive from its first heartbeat to its last; two trees
//! of one name overlap when one's last heartbeat comes after the other's
//! first, which is a violation whatever the network did.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use consuela_devserver::DevServerConfig;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;
use tokio::time::{Instant, sleep, sleep_until};

use super::BoxError;
use super::schedule::Rng;
use crate::{FaultProxy, Mode, spawn_devserver_with};

/// Every process of a command beats this often.
const BEAT: &str = "0.1";

/// A runner safety run's parameters.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The `consuela` binary.
    pub consuela: PathBuf,
    /// Runner slots, each running `consuela run --wait` in a loop.
    pub members: usize,
    /// Names contended for.
    pub names: Vec<String>,
    /// How long faults are injected.
    pub duration: Duration,
    /// Seed of the faults and the runners' choices.
    pub seed: u64,
    /// Session TTL of the runners.
    pub ttl: Duration,
    /// Lock-delay.
    pub lock_delay: Duration,
    /// `--grace` of the runners.
    pub grace: Duration,
    /// Shortest and longest run of a command.
    pub hold: (Duration, Duration),
    /// Where the config file and the heartbeats go.
    pub dir: PathBuf,
}

impl RunnerConfig {
    /// Defaults for `consuela` at `consuela`, writing under `dir`.
    pub fn new(consuela: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Self {
        Self {
            consuela: consuela.into(),
            members: 3,
            names: vec!["job-a".into(), "job-b".into()],
            duration: Duration::from_secs(20),
            seed: 1,
            ttl: Duration::from_secs(2),
            lock_delay: Duration::from_secs(1),
            grace: Duration::from_millis(300),
            hold: (Duration::from_millis(300), Duration::from_millis(1500)),
            dir: dir.into(),
        }
    }
}

/// What a runner run found.
#[derive(Debug, Clone, Default)]
pub struct RunnerReport {
    /// The seed.
    pub seed: u64,
    /// Commands started (trees seen in the heartbeats).
    pub trees: usize,
    /// Runner processes started.
    pub runs: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Two trees of one name alive at once.
    pub violations: Vec<String>,
    /// Heartbeats written after every runner had exited (a tree survived).
    pub leftovers: usize,
}

impl RunnerReport {
    /// No overlap and nothing left behind.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty() && self.leftovers == 0
    }

    /// A human-readable summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "runner safety run, seed {}: {} runs, {} trees, faults {:?}\n",
            self.seed, self.runs, self.trees, self.faults
        );
        let _ = writeln!(
            s,
            "violations: {}, heartbeats after the end: {}",
            self.violations.len(),
            self.leftovers
        );
        for v in &self.violations {
            let _ = writeln!(s, "  {v}");
        }
        s
    }
}

/// The command every runner runs: three beating processes that escape the
/// shell in three ways, then the shell's own beat until its hold ends.
const SCRIPT: &str = r#"B='while :; do echo "$CONSUELA_NAME $CONSUELA_FENCING_TOKEN $(date +%s%N)" >> "$HIST"; sleep $BEAT; done'
sh -c "$B" &
(sh -c "$B" &)
setsid sh -c "$B" &
end=$(( $(date +%s%N) + HOLD_MS * 1000000 ))
while [ "$(date +%s%N)" -lt "$end" ]; do
  echo "$CONSUELA_NAME $CONSUELA_FENCING_TOKEN $(date +%s%N)" >> "$HIST"
  sleep $BEAT
done"#;

/// One runner slot's current process, for the faults.
#[derive(Default)]
struct Slot {
    child: Option<u32>,
}

/// Runs the runner safety run.
///
/// # Errors
///
/// Set-up failures (the dev server, a proxy, the work directory).
pub async fn run_runners(config: RunnerConfig) -> Result<RunnerReport, BoxError> {
    std::fs::create_dir_all(&config.dir)?;
    let hist = config.dir.join("beats.log");
    let _ = std::fs::remove_file(&hist);
    std::fs::write(&hist, "")?;
    let conf = config.dir.join("consuela.toml");
    std::fs::write(
        &conf,
        format!(
            "[session]\nttl = \"{}ms\"\nttl_min = \"100ms\"\nlock_delay = \"{}ms\"\n",
            config.ttl.as_millis(),
            config.lock_delay.as_millis()
        ),
    )?;
    let mut server_config = DevServerConfig::default();
    server_config.session_ttl_min = Duration::from_millis(100);
    let server = spawn_devserver_with(server_config).await;
    let mut proxies = Vec::new();
    for _ in 0..config.members {
        proxies.push(FaultProxy::start(server.local_addr()).await?);
    }
    let slots: Vec<Arc<Mutex<Slot>>> = (0..config.members)
        .map(|_| Arc::new(Mutex::new(Slot::default())))
        .collect();
    let runs = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + config.duration;
    let mut loops = Vec::new();
    for (i, proxy) in proxies.iter().enumerate() {
        let ctx = Runner {
            config: config.clone(),
            url: proxy.url(),
            conf: conf.clone(),
            hist: hist.clone(),
            slot: slots[i].clone(),
            member: format!("runner-{i}"),
            runs: runs.clone(),
        };
        let seed = config.seed.wrapping_mul(31).wrapping_add(i as u64);
        loops.push(tokio::spawn(ctx.run(seed, end)));
    }
    let faults = inject(&config, &proxies, &slots, end).await;
    for proxy in &proxies {
        proxy.set_mode(Mode::Pass);
    }
    for l in loops {
        let _ = l.await;
    }
    // Every runner has exited. A guardian whose runner was killed last may
    // still be stopping its tree (within its grace): give it that, then
    // nothing may beat any more.
    sleep(config.grace + Duration::from_secs(1)).await;
    let beats_at_end = count_lines(&hist);
    sleep(Duration::from_millis(500)).await;
    let leftovers = count_lines(&hist).saturating_sub(beats_at_end);
    let (trees, violations) = check(&std::fs::read_to_string(&hist)?);
    for proxy in proxies {
        proxy.shutdown().await;
    }
    server.shutdown().await;
    Ok(RunnerReport {
        seed: config.seed,
        trees,
        runs: runs.load(Ordering::Relaxed),
        faults,
        violations,
        leftovers,
    })
}

fn count_lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// One runner slot: `consuela run --wait` of a random name, again and again.
struct Runner {
    config: RunnerConfig,
    url: String,
    conf: PathBuf,
    hist: PathBuf,
    slot: Arc<Mutex<Slot>>,
    member: String,
    runs: Arc<AtomicU64>,
}

impl Runner {
    async fn run(self, seed: u64, end: Instant) {
        let mut rng = Rng::new(seed);
        while Instant::now() < end {
            let name = &self.config.names[rng.below(self.config.names.len() as u64) as usize];
            let hold = rng.between(self.config.hold.0, self.config.hold.1);
            let Ok(mut child) = self.spawn(name, hold) else {
                return;
            };
            self.runs.fetch_add(1, Ordering::Relaxed);
            self.slot.lock().await.child = child.id();
            // Past the end, a runner still waiting is told to stop.
            tokio::select! {
                _ = child.wait() => {}
                () = sleep_until(end) => {
                    if let Some(pid) = child.id() {
                        signal(pid, rustix::process::Signal::TERM);
                    }
                    let _ = child.wait().await;
                }
            }
            self.slot.lock().await.child = None;
            sleep(rng.between(Duration::from_millis(10), Duration::from_millis(100))).await;
        }
    }

    fn spawn(&self, name: &str, hold: Duration) -> std::io::Result<Child> {
        Command::new(&self.config.consuela)
            .arg("--consul")
            .arg(&self.url)
            .arg("--config")
            .arg(&self.conf)
            .arg("--member")
            .arg(&self.member)
            .arg("run")
            .arg("--wait")
            .arg("--grace")
            .arg(format!("{}ms", self.config.grace.as_millis()))
            .arg(name)
            .arg("--")
            .arg("sh")
            .arg("-c")
            .arg(SCRIPT)
            .env("HIST", &self.hist)
            .env("BEAT", BEAT)
            .env("HOLD_MS", hold.as_millis().to_string())
            .env_remove("CONSUL_HTTP_ADDR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
    }
}

fn signal(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Faults until `end`: SIGKILL of a runner, a cut of its network, a pause.
async fn inject(
    config: &RunnerConfig,
    proxies: &[FaultProxy],
    slots: &[Arc<Mutex<Slot>>],
    end: Instant,
) -> BTreeMap<&'static str, u64> {
    let mut rng = Rng::new(config.seed ^ 0x5eed);
    let mut faults = BTreeMap::new();
    loop {
        let wait = rng.between(Duration::from_millis(300), Duration::from_millis(1500));
        if Instant::now() + wait >= end {
            break;
        }
        sleep(wait).await;
        let i = rng.below(slots.len() as u64) as usize;
        let pid = slots[i].lock().await.child;
        let kind = match rng.below(3) {
            0 => {
                let Some(pid) = pid else { continue };
                signal(pid, rustix::process::Signal::KILL);
                "runner-kill"
            }
            1 => {
                proxies[i].set_mode(Mode::Stop);
                sleep(rng.between(config.ttl / 2, config.ttl * 2)).await;
                proxies[i].set_mode(Mode::Pass);
                "cut"
            }
            _ => {
                let Some(pid) = pid else { continue };
                signal(pid, rustix::process::Signal::STOP);
                sleep(rng.between(config.ttl / 4, config.ttl * 2)).await;
                signal(pid, rustix::process::Signal::CONT);
                "pause"
            }
        };
        *faults.entry(kind).or_default() += 1;
    }
    faults
}

/// The trees in `beats` and every overlap of two trees of one name.
pub fn check(beats: &str) -> (usize, Vec<String>) {
    // (name, token) -> (first, last) heartbeat.
    let mut trees: BTreeMap<(String, u64), (u128, u128)> = BTreeMap::new();
    for line in beats.lines() {
        let mut f = line.split_whitespace();
        let (Some(name), Some(token), Some(t)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let (Ok(token), Ok(t)) = (token.parse::<u64>(), t.parse::<u128>()) else {
            continue;
        };
        let e = trees.entry((name.to_owned(), token)).or_insert((t, t));
        e.0 = e.0.min(t);
        e.1 = e.1.max(t);
    }
    let mut by_name: BTreeMap<&str, Vec<(u64, u128, u128)>> = BTreeMap::new();
    for ((name, token), (first, last)) in &trees {
        by_name
            .entry(name)
            .or_default()
            .push((*token, *first, *last));
    }
    let mut violations = Vec::new();
    for (name, mut list) in by_name {
        list.sort_by_key(|t| t.1);
        for pair in list.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.1 < a.2 {
                violations.push(format!(
                    "{name}: tree of token {} still alive {:.1} ms after the tree of token {} started",
                    a.0,
                    (a.2 - b.1) as f64 / 1e6,
                    b.0
                ));
            }
        }
    }
    (trees.len(), violations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_trees_of_one_name_are_violations() {
        let beats = "a 1 100\na 1 200\na 2 300\na 2 400\nb 5 150\na 3 350\n";
        let (trees, violations) = check(beats);
        assert_eq!(trees, 4);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0].starts_with("a: tree of token 2"),
            "{violations:?}"
        );
        assert!(check("a 1 100\na 2 200\n").1.is_empty());
    }
}
