//! What a member process of the safety run does.
//!
//! A member starts a [`Registry`] (through its own fault proxy), and several workers repeatedly
//! [`spawn`](Registry::spawn) futures under names from a small shared set. Each future records
//! `acquired` when it starts running and `released` when it stops, however it stops: a drop
//! guard writes the event when the future ends or is dropped on loss. When the registry
//! fail-stops the member starts a new one (a new session). SIGTERM shuts down gracefully.
//!
//! The harness talks to a member over stdin/stdout, one line each way:
//! `status` answers a [`MemberStatus`] as JSON; `hold` stops new attempts and keeps every
//! running future holding its name (so the harness can compare beliefs with Consul);
//! `run` resumes. End of stdin (the harness died) ends the process.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consuela::{
    Config, Contact, ErrorKind, Registry, config::Interval, config::RetryPolicy, registry::State,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{oneshot, watch};

use super::clock::now_ns;
use super::history::{Event, HistoryWriter};
use super::schedule::Rng;

/// The command line of a member process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberArgs {
    /// Shared history file.
    pub history: PathBuf,
    /// Consul URL (the member's proxy).
    pub url: String,
    /// Member label, also the registry's member name.
    pub member: String,
    /// Consul node to bind the session to.
    pub node: String,
    /// Registry namespace.
    pub namespace: String,
    /// Names to contend for.
    pub names: Vec<String>,
    /// Seed of this member's random choices.
    pub seed: u64,
    /// Session TTL.
    pub ttl: Duration,
    /// Session lock-delay.
    pub lock_delay: Duration,
    /// Shortest and longest hold of a name.
    pub hold: (Duration, Duration),
    /// Concurrent workers.
    pub workers: usize,
    /// Renew every TTL / `renew_fraction` (`keeper.interval`).
    pub renew_fraction: u32,
    /// `keeper.watch_session`.
    pub watch_session: bool,
    /// Run a registry whose keeper ignores its deadline (needs the `unsafe-ignore-deadline`
    /// feature).
    pub unsafe_ignore_deadline: bool,
    /// `Some(N)`: contend for one of N slots of each name (`Registry::spawn_limited`)
    /// instead of the name itself.
    pub limit: Option<u32>,
}

impl MemberArgs {
    /// The arguments, as passed on a command line.
    pub fn to_args(&self) -> Vec<String> {
        let ms = |d: Duration| d.as_millis().to_string();
        let mut args = vec![
            "--history".into(),
            self.history.display().to_string(),
            "--url".into(),
            self.url.clone(),
            "--member".into(),
            self.member.clone(),
            "--node".into(),
            self.node.clone(),
            "--namespace".into(),
            self.namespace.clone(),
            "--names".into(),
            self.names.join(","),
            "--seed".into(),
            self.seed.to_string(),
            "--ttl-ms".into(),
            ms(self.ttl),
            "--lock-delay-ms".into(),
            ms(self.lock_delay),
            "--hold-ms".into(),
            format!("{}..{}", ms(self.hold.0), ms(self.hold.1)),
            "--workers".into(),
            self.workers.to_string(),
            "--renew-fraction".into(),
            self.renew_fraction.to_string(),
            "--watch-session".into(),
            self.watch_session.to_string(),
        ];
        if self.unsafe_ignore_deadline {
            args.push("--unsafe-ignore-deadline".into());
        }
        if let Some(limit) = self.limit {
            args.push("--limit".into());
            args.push(limit.to_string());
        }
        args
    }

    /// Parses what [`to_args`](Self::to_args) produced.
    ///
    /// # Errors
    ///
    /// A message naming the bad or missing argument.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        let mut unsafe_ignore_deadline = false;
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--unsafe-ignore-deadline" {
                unsafe_ignore_deadline = true;
                continue;
            }
            let key = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            map.insert(key.to_owned(), value.clone());
        }
        let get = |key: &str| {
            map.get(key)
                .cloned()
                .ok_or_else(|| format!("missing --{key}"))
        };
        let num = |key: &str| -> Result<u64, String> {
            get(key)?.parse().map_err(|e| format!("--{key}: {e}"))
        };
        let hold = get("hold-ms")?;
        let (lo, hi) = hold
            .split_once("..")
            .ok_or_else(|| format!("--hold-ms {hold:?}: expected LO..HI"))?;
        let parse_ms = |s: &str| {
            s.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| format!("--hold-ms: {e}"))
        };
        Ok(Self {
            history: get("history")?.into(),
            url: get("url")?,
            member: get("member")?,
            node: get("node")?,
            namespace: get("namespace")?,
            names: get("names")?.split(',').map(str::to_owned).collect(),
            seed: num("seed")?,
            ttl: Duration::from_millis(num("ttl-ms")?),
            lock_delay: Duration::from_millis(num("lock-delay-ms")?),
            hold: (parse_ms(lo)?, parse_ms(hi)?),
            workers: usize::try_from(num("workers")?).map_err(|e| e.to_string())?,
            renew_fraction: u32::try_from(num("renew-fraction")?).map_err(|e| e.to_string())?,
            watch_session: get("watch-session")? == "true",
            unsafe_ignore_deadline,
            limit: map
                .get("limit")
                .map(|l| l.parse().map_err(|e| format!("--limit: {e}")))
                .transpose()?,
        })
    }

    /// The registry configuration: short timeouts scaled to the TTL.
    pub fn config(&self) -> Config {
        let mut c = Config::new(self.node.clone(), self.namespace.clone());
        c.member = Some(self.member.clone());
        c.consul.url = Some(self.url.clone());
        c.consul.request_timeout = (self.ttl / 2).max(Duration::from_millis(300));
        c.consul.connect_timeout = Duration::from_millis(300);
        c.session.ttl = self.ttl;
        c.session.ttl_min = Duration::from_millis(100).min(self.ttl);
        c.session.lock_delay = self.lock_delay;
        c.keeper.interval = Interval::Ratio(1, self.renew_fraction.max(2));
        c.keeper.watch_session = self.watch_session;
        c.registry.registration_timeout = (self.ttl / 2).max(Duration::from_millis(300));
        c.reaper.retry = RetryPolicy::linear(Duration::from_millis(100))
            .max_total_timeout(Duration::from_secs(120));
        c.reaper.shutdown_timeout = Duration::from_secs(2);
        c
    }
}

/// What a member answers to `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Member label.
    pub member: String,
    /// The current registry's session, if one is running.
    pub session: Option<String>,
    /// Whether that registry is `Running`.
    pub running: bool,
    /// Names the member believes it holds, with their fencing tokens.
    pub held: Vec<(String, u64)>,
    /// The current registry's reaper queue length.
    pub reaper_queue: usize,
    /// `spawn` calls in flight.
    pub inflight: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Run,
    Hold,
    Exit,
}

#[derive(Debug, Default)]
struct Counters {
    attempts: AtomicU64,
    acquired: AtomicU64,
    conflicts: AtomicU64,
    lock_delays: AtomicU64,
    errors: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    args: MemberArgs,
    history: HistoryWriter,
    phase: watch::Sender<Phase>,
    /// (name, session, token) → count of live futures (one: a name has one local owner).
    held: Mutex<BTreeMap<(String, String, u64), usize>>,
    registry: Mutex<Option<Registry>>,
    counters: Counters,
    inflight: AtomicUsize,
    next_owner: AtomicU64,
}

impl Shared {
    fn status(&self) -> MemberStatus {
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let session = registry.as_ref().map(|r| r.session().to_string());
        MemberStatus {
            member: self.args.member.clone(),
            running: registry
                .as_ref()
                .is_some_and(|r| r.state() == State::Running),
            held: held
                .keys()
                .filter(|(_, s, _)| Some(s) == session.as_ref())
                .map(|(n, _, t)| (n.clone(), *t))
                .collect(),
            session,
            reaper_queue: registry.as_ref().map_or(0, Registry::reaper_queue),
            inflight: self.inflight.load(Ordering::Relaxed),
        }
    }

    fn stats(&self) {
        let c = &self.counters;
        self.history.record(&Event::Stats {
            member: self.args.member.clone(),
            attempts: c.attempts.load(Ordering::Relaxed),
            acquired: c.acquired.load(Ordering::Relaxed),
            conflicts: c.conflicts.load(Ordering::Relaxed),
            lock_delays: c.lock_delays.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            t: now_ns(),
        });
    }

    /// The process is about to die: whatever still runs stops with it.
    fn release_all(&self) {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(|e| e.into_inner()));
        let t = now_ns();
        for (name, session, token) in held.into_keys() {
            self.history.record(&Event::Released {
                name,
                member: self.args.member.clone(),
                session,
                token,
                t,
            });
        }
    }
}

/// Records `acquired` when created and `released` when dropped, i.e. when the future holding
/// it stops, however it stops.
struct HeldGuard {
    shared: Arc<Shared>,
    key: (String, String, u64),
}

impl HeldGuard {
    fn new(shared: Arc<Shared>, name: String, session: String, token: u64) -> Self {
        let key = (name, session, token);
        *shared
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default() += 1;
        shared.history.record(&Event::Acquired {
            name: key.0.clone(),
            member: shared.args.member.clone(),
            session: key.1.clone(),
            token,
            t: now_ns(),
        });
        Self { shared, key }
    }
}

impl Drop for HeldGuard {
    fn drop(&mut self) {
        let mut held = self.shared.held.lock().unwrap_or_else(|e| e.into_inner());
        // Taken by `release_all` already: the process is exiting and recorded it.
        let Some(count) = held.get_mut(&self.key) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            held.remove(&self.key);
        }
        // Record while holding the lock, so `release_all` cannot record it a second time.
        self.shared.history.record(&Event::Released {
            name: self.key.0.clone(),
            member: self.shared.args.member.clone(),
            session: self.key.1.clone(),
            token: self.key.2,
            t: now_ns(),
        });
    }
}

/// Runs a member process with `args` (without the program name); returns its exit code.
pub fn main(args: &[String]) -> ExitCode {
    let args = match MemberArgs::parse(args) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("safety-member: {message}");
            return ExitCode::from(2);
        }
    };
    if args.unsafe_ignore_deadline && !cfg!(feature = "unsafe-ignore-deadline") {
        eprintln!(
            "safety-member: --unsafe-ignore-deadline needs the `unsafe-ignore-deadline` feature"
        );
        return ExitCode::from(2);
    }
    // Die with the harness, whatever happens to it.
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    let history = match HistoryWriter::open(&args.history) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("safety-member: cannot open the history: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let shared = Arc::new(Shared {
        args,
        history,
        phase: watch::Sender::new(Phase::Run),
        held: Mutex::default(),
        registry: Mutex::default(),
        counters: Counters::default(),
        inflight: AtomicUsize::new(0),
        next_owner: AtomicU64::new(0),
    });
    runtime.block_on(run(shared));
    ExitCode::SUCCESS
}

async fn run(shared: Arc<Shared>) {
    tokio::spawn(commands(shared.clone()));
    tokio::spawn({
        let shared = shared.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                shared.stats();
            }
        }
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    let mut phase = shared.phase.subscribe();
    let mut generation = 0u64;
    loop {
        let registry = tokio::select! {
            registry = start(&shared) => registry,
            _ = term.recv() => break,
            _ = phase.wait_for(|p| *p == Phase::Exit) => break,
        };
        generation += 1;
        let session = registry.session().to_string();
        shared.history.record(&Event::Session {
            member: shared.args.member.clone(),
            session: session.clone(),
            t: now_ns(),
        });
        *shared.registry.lock().unwrap_or_else(|e| e.into_inner()) = Some(registry.clone());
        let mut workers = tokio::task::JoinSet::new();
        for w in 0..shared.args.workers {
            let seed = shared.args.seed ^ (generation << 32) ^ (w as u64).wrapping_mul(0x9E37);
            workers.spawn(worker(
                shared.clone(),
                registry.clone(),
                session.clone(),
                seed,
            ));
        }
        let exit = tokio::select! {
            () = registry.lost() => false,
            _ = term.recv() => true,
            _ = phase.wait_for(|p| *p == Phase::Exit) => true,
        };
        if exit {
            shared.phase.send_replace(Phase::Exit);
            // Stops spawned futures (each records `released`), deletes our keys, destroys
            // the session.
            let _ = tokio::time::timeout(Duration::from_secs(5), registry.shutdown()).await;
            break;
        }
        let reason = match registry.state() {
            State::Lost(reason) => format!("{reason:?}"),
            other => format!("{other:?}"),
        };
        shared.history.record(&Event::Lost {
            member: shared.args.member.clone(),
            session,
            reason,
            t: now_ns(),
        });
        workers.abort_all();
        while workers.join_next().await.is_some() {}
        let _ = tokio::time::timeout(Duration::from_secs(2), registry.shutdown()).await;
        *shared.registry.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    shared.stats();
    shared.release_all();
    std::process::exit(0);
}

async fn start(shared: &Shared) -> Registry {
    loop {
        let builder =
            Registry::builder(shared.args.config()).pulse(|_: &consuela::event::Event| {});
        #[cfg(feature = "unsafe-ignore-deadline")]
        let builder = if shared.args.unsafe_ignore_deadline {
            builder.unsafe_ignore_deadline()
        } else {
            builder
        };
        match builder.start().await {
            Ok(registry) => return registry,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn worker(shared: Arc<Shared>, registry: Registry, session: String, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut phase = shared.phase.subscribe();
    let args = &shared.args;
    loop {
        if phase.wait_for(|p| *p == Phase::Run).await.is_err() {
            return;
        }
        let name = args.names[rng.below(args.names.len() as u64) as usize].clone();
        let hold = rng.between(args.hold.0, args.hold.1);
        let (token_tx, token_rx) = oneshot::channel::<u64>();
        let holder = {
            let shared = shared.clone();
            let name = name.clone();
            let session = session.clone();
            async move {
                let Ok(token) = token_rx.await else { return };
                let _guard = HeldGuard::new(shared.clone(), name, session, token);
                let mut phase = shared.phase.subscribe();
                tokio::time::sleep(hold).await;
                let _ = phase.wait_for(|p| *p != Phase::Hold).await;
            }
        };
        // Distinct contacts, so that the history tells the registrations apart.
        let owner = Contact::at(args.member.clone())
            .with_meta(&shared.next_owner.fetch_add(1, Ordering::Relaxed))
            .expect("a number serializes");
        shared.counters.attempts.fetch_add(1, Ordering::Relaxed);
        let inflight = InFlight::new(&shared.inflight);
        let spawned = match args.limit {
            Some(limit) => registry.spawn_limited(&name, limit, owner, holder).await,
            None => registry.spawn(&name, owner, holder).await,
        };
        drop(inflight);
        let backoff = match spawned {
            Ok(handle) => {
                let _ = token_tx.send(handle.fencing_token().get());
                shared.counters.acquired.fetch_add(1, Ordering::Relaxed);
                let _ = handle.join().await;
                (0, 20)
            }
            Err(e) => match e.kind() {
                ErrorKind::AlreadyRegistered { .. } | ErrorKind::SemaphoreFull { .. } => {
                    shared.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                    (5, 40)
                }
                ErrorKind::LockDelay => {
                    shared.counters.lock_delays.fetch_add(1, Ordering::Relaxed);
                    (10, 30)
                }
                ErrorKind::SessionLost(_) | ErrorKind::Shutdown => return,
                _ => {
                    shared.counters.errors.fetch_add(1, Ordering::Relaxed);
                    (50, 150)
                }
            },
        };
        let pause = rng.between(
            Duration::from_millis(backoff.0),
            Duration::from_millis(backoff.1),
        );
        tokio::time::sleep(pause).await;
    }
}

/// Counts a `spawn` call in flight, also when the worker is aborted mid-call.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn commands(shared: Arc<Shared>) {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    while let Ok(Some(line)) = lines.next_line().await {
        let answer = match line.trim() {
            "status" => serde_json::to_string(&shared.status()).expect("status serializes"),
            "hold" => {
                shared.phase.send_replace(Phase::Hold);
                "ok".to_owned()
            }
            "run" => {
                shared.phase.send_replace(Phase::Run);
                "ok".to_owned()
            }
            other => format!("unknown command {other:?}"),
        };
        let _ = stdout.write_all(format!("{answer}\n").as_bytes()).await;
        let _ = stdout.flush().await;
    }
    // The harness is gone: so are we.
    shared.release_all();
    std::process::exit(0);
}
