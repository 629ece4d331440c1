//! The scenarios, and the pieces `sweep` reuses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use consuela::{Config, Contact, ErrorKind, Name, Registration, Registry, client::ClientConfig};
use tokio::time::Instant;

use super::args::BenchArgs;
use super::baseline::Bare;
use super::load::{self, Budget, Latency, Run};
use super::report::{Output, Report};

/// What every scenario gets.
#[derive(Debug)]
pub(super) struct Ctx<'a> {
    pub(super) args: &'a BenchArgs,
    pub(super) url: String,
    pub(super) out: &'a Output,
}

impl Ctx<'_> {
    pub(super) fn budget(&self, concurrency: usize) -> Budget {
        Budget {
            concurrency,
            ops: self.args.ops,
            time: Duration::from_secs_f64(self.args.secs),
        }
    }

    /// Idle connections kept by both the registry's client and the bare
    /// client: at least consuela-client's default (32), and enough for the
    /// requests in flight, so neither side reconnects under load.
    pub(super) fn pool(&self) -> usize {
        self.args.concurrency.max(32)
    }

    /// The bare client of `--baseline`, if asked for.
    pub(super) async fn bare(&self) -> anyhow::Result<Option<Bare>> {
        if !self.args.baseline {
            return Ok(None);
        }
        let client = self.args.baseline_client;
        let bare = Bare::connect(&self.url, &self.args.nodename, self.pool(), client).await?;
        Ok(Some(bare))
    }

    pub(super) fn key(&self, rest: &str) -> String {
        format!("{}/{rest}", self.args.namespace)
    }

    /// Runs `round` `--rounds` times (at least once; it gets the round's
    /// index) and prints every report it returns; with several rounds, then
    /// a `median` report of `keys` over the reports that carry `keys[0]`
    /// (the registry's, measured against the baseline).
    pub(super) async fn in_rounds(
        &self,
        scenario: &'static str,
        keys: &[&str],
        mut round: impl AsyncFnMut(usize) -> anyhow::Result<Vec<Report>>,
    ) -> anyhow::Result<()> {
        let mut ours = Vec::new();
        for i in 0..self.args.rounds.max(1) {
            for r in round(i).await? {
                self.out.emit(&r)?;
                if r.figure(keys[0]).is_some() {
                    ours.push(r);
                }
            }
        }
        if self.args.rounds > 1 {
            self.out.emit(&Report::medians(scenario, &ours, keys))?;
        }
        Ok(())
    }
}

/// Consul requests made by one registry, by kind, through its request hook.
#[derive(Debug, Default)]
pub(super) struct Requests {
    total: AtomicU64,
    renew: AtomicU64,
    session_info: AtomicU64,
    kv: AtomicU64,
    txn: AtomicU64,
}

/// A snapshot of [`Requests`].
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Counts {
    pub(super) total: u64,
    pub(super) renew: u64,
    pub(super) session_info: u64,
    pub(super) kv: u64,
    pub(super) txn: u64,
}

impl Requests {
    fn record(&self, path: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let kind = if path.starts_with("/v1/session/renew/") {
            &self.renew
        } else if path.starts_with("/v1/session/info/") {
            &self.session_info
        } else if path.starts_with("/v1/kv/") {
            &self.kv
        } else if path.starts_with("/v1/txn") {
            &self.txn
        } else {
            return;
        };
        kind.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn snapshot(&self) -> Counts {
        Counts {
            total: self.total.load(Ordering::Relaxed),
            renew: self.renew.load(Ordering::Relaxed),
            session_info: self.session_info.load(Ordering::Relaxed),
            kv: self.kv.load(Ordering::Relaxed),
            txn: self.txn.load(Ordering::Relaxed),
        }
    }
}

impl Counts {
    pub(super) fn since(self, earlier: Self) -> Self {
        Self {
            total: self.total - earlier.total,
            renew: self.renew - earlier.renew,
            session_info: self.session_info - earlier.session_info,
            kv: self.kv - earlier.kv,
            txn: self.txn - earlier.txn,
        }
    }
}

/// Starts a registry as member `member` with default settings, except the
/// client's pool size and a request hook counting into `requests`.
pub(super) async fn start_registry(
    ctx: &Ctx<'_>,
    member: &str,
    requests: Option<Arc<Requests>>,
    pool: usize,
) -> anyhow::Result<Registry> {
    start_registry_batching(ctx, member, requests, pool, ctx.args.max_batch).await
}

/// [`start_registry`] with `registry.max_batch` set to `max_batch`.
pub(super) async fn start_registry_batching(
    ctx: &Ctx<'_>,
    member: &str,
    requests: Option<Arc<Requests>>,
    pool: usize,
    max_batch: usize,
) -> anyhow::Result<Registry> {
    let mut config = Config::new(ctx.args.nodename.clone(), ctx.args.namespace.clone());
    config.consul.url = Some(ctx.url.clone());
    config.member = Some(member.to_owned());
    config.registry.max_batch = max_batch;
    let mut client = ClientConfig::new(ctx.url.clone());
    client.pool_max_idle = pool;
    if let Some(requests) = requests {
        client = client.on_request(move |e| requests.record(e.path));
    }
    Registry::builder(config)
        .client_config(client)
        .start()
        .await
        .with_context(|| format!("cannot start registry {member}"))
}

/// The owner every benchmark registration claims.
fn owner() -> Contact {
    Contact::at("127.0.0.1:7000")
}

/// Registers `prefix/<i>` for `i` in `range`, 64 in flight; returns the guards.
pub(super) async fn fill(
    registry: &Registry,
    prefix: &str,
    range: std::ops::Range<usize>,
) -> anyhow::Result<Vec<Registration>> {
    let held = Arc::new(Mutex::new(Vec::with_capacity(range.len())));
    let (registry, prefix, start) = (registry.clone(), prefix.to_owned(), range.start as u64);
    let sink = held.clone();
    load::drive(
        Budget {
            concurrency: 64,
            ops: range.len() as u64,
            time: Duration::from_secs(3600),
        },
        move |i| {
            let (registry, sink) = (registry.clone(), sink.clone());
            let name = format!("{prefix}/{}", start + i);
            async move {
                let r = registry.register(&name, owner()).await?;
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                Ok(())
            }
        },
    )
    .await?;
    let held = std::mem::take(&mut *held.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(held)
}

fn report(scenario: &'static str, implementation: &'static str, run: &Run) -> Report {
    let mut r = Report::new(scenario, implementation);
    r.ops = run.ops;
    r.elapsed = run.elapsed;
    r.latency = run.latency;
    r
}

/// Register + unregister pairs through the registry, reported as `implementation`.
pub(super) async fn registry_pairs(
    registry: &Registry,
    budget: Budget,
    tag: &str,
    implementation: &'static str,
) -> anyhow::Result<Report> {
    let (registry, tag) = (registry.clone(), tag.to_owned());
    let cpu = load::cpu_time();
    let run = load::drive(budget, move |i| {
        let registry = registry.clone();
        let name = format!("r/{tag}/{i}");
        async move {
            let r = registry.register(&name, owner()).await?;
            r.unregister().await?;
            Ok(())
        }
    })
    .await?;
    let mut r = report("register", implementation, &run).with_cpu(load::cpu_time() - cpu);
    r.concurrency = budget.concurrency;
    Ok(r)
}

/// The same requests (txn lock, DELETE ?cas) through the bare client.
pub(super) async fn baseline_pairs(
    ctx: &Ctx<'_>,
    bare: &Bare,
    budget: Budget,
    tag: &str,
) -> anyhow::Result<Report> {
    let label = bare.label();
    let (bare, prefix) = (bare.clone(), ctx.key(&format!("b/{tag}")));
    let cpu = load::cpu_time();
    let run = load::drive(budget, move |i| {
        let bare = bare.clone();
        let key = format!("{prefix}/{i}");
        async move {
            let index = bare.lock(&key, i).await?;
            bare.delete_cas(&key, index).await
        }
    })
    .await?;
    let mut r = report("register", label, &run).with_cpu(load::cpu_time() - cpu);
    r.concurrency = budget.concurrency;
    Ok(r)
}

/// Runs baseline and registry pairs back to back (and, when given, the
/// registry with batching off); adds the ratios.
pub(super) async fn register_vs_baseline(
    ctx: &Ctx<'_>,
    registry: &Registry,
    unbatched: Option<&Registry>,
    bare: Option<&Bare>,
    budget: Budget,
    tag: &str,
) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::new();
    let base = match bare {
        Some(bare) => Some(baseline_pairs(ctx, bare, budget, tag).await?),
        None => None,
    };
    if let Some(unbatched) = unbatched {
        let mut reg =
            registry_pairs(unbatched, budget, &format!("u{tag}"), "registry-unbatched").await?;
        if let Some(base) = &base {
            reg = with_ratios(reg, base);
        }
        reports.push(reg);
    }
    let mut reg = registry_pairs(registry, budget, tag, "registry").await?;
    if let Some(base) = base {
        reg = with_ratios(reg, &base);
        reports.insert(0, base);
    }
    reports.push(reg);
    Ok(reports)
}

/// Adds throughput and CPU-per-operation ratios against the baseline.
fn with_ratios(reg: Report, base: &Report) -> Report {
    let ratio = reg.ops_per_sec() / base.ops_per_sec().max(f64::MIN_POSITIVE);
    reg.with("vs_baseline", (ratio * 1000.0).round() / 1000.0)
        .with_cpu_ratios(base)
}

pub(super) async fn register(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let registry = start_registry(ctx, "bench-register", None, ctx.pool()).await?;
    let bare = ctx.bare().await?;
    let budget = ctx.budget(ctx.args.concurrency);
    let keys = ["vs_baseline", "cpu_vs_baseline", "user_vs_baseline"];
    ctx.in_rounds("register", &keys, async |round| {
        let tag = round.to_string();
        register_vs_baseline(ctx, &registry, None, bare.as_ref(), budget, &tag).await
    })
    .await?;
    if let Some(bare) = bare {
        bare.close().await;
    }
    registry.shutdown().await?;
    Ok(())
}

pub(super) async fn baseline(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let bare = Bare::connect(
        &ctx.url,
        &ctx.args.nodename,
        ctx.pool(),
        ctx.args.baseline_client,
    )
    .await?;
    let budget = ctx.budget(ctx.args.concurrency);
    ctx.out
        .emit(&baseline_pairs(ctx, &bare, budget, "0").await?)?;
    // Keys to GET: written by the bare client itself (plain PUTs).
    let n = ctx.args.names.min(10_000);
    let keys: Arc<Vec<String>> = Arc::new((0..n).map(|i| ctx.key(&format!("g/{i}"))).collect());
    for (i, key) in keys.iter().enumerate() {
        let index = bare.lock(key, i as u64).await?;
        let _ = index;
    }
    ctx.out
        .emit(&bare_gets(&bare, keys.clone(), budget).await?)?;
    bare.close().await;
    Ok(())
}

/// `GET`s of random keys among `keys`, through the bare client.
pub(super) async fn bare_gets(
    bare: &Bare,
    keys: Arc<Vec<String>>,
    budget: Budget,
) -> anyhow::Result<Report> {
    let label = bare.label();
    let bare = bare.clone();
    let n = keys.len();
    let cpu = load::cpu_time();
    let run = load::drive(budget, move |i| {
        let (bare, keys) = (bare.clone(), keys.clone());
        async move {
            let key = &keys[(load::mix(i) % n as u64) as usize];
            anyhow::ensure!(bare.get(key).await?, "{key} is missing");
            Ok(())
        }
    })
    .await?;
    let mut r = report("whereis-remote", label, &run).with_cpu(load::cpu_time() - cpu);
    r.concurrency = budget.concurrency;
    r.names = n;
    Ok(r)
}

/// `whereis` from `reader` of random names among `names`, held elsewhere.
pub(super) async fn remote_lookups(
    reader: &Registry,
    names: Arc<Vec<String>>,
    budget: Budget,
) -> anyhow::Result<Report> {
    let reader = reader.clone();
    let n = names.len();
    let cpu = load::cpu_time();
    let run = load::drive(budget, move |i| {
        let (reader, names) = (reader.clone(), names.clone());
        async move {
            let name = &names[(load::mix(i) % n as u64) as usize];
            reader
                .whereis(name)
                .await?
                .with_context(|| format!("{name} has no owner"))?;
            Ok(())
        }
    })
    .await?;
    let mut r = report("whereis-remote", "registry", &run).with_cpu(load::cpu_time() - cpu);
    r.concurrency = budget.concurrency;
    r.names = n;
    Ok(r)
}

/// Remote lookups vs bare GETs of the same keys, back to back.
pub(super) async fn remote_vs_baseline(
    ctx: &Ctx<'_>,
    reader: &Registry,
    bare: Option<&Bare>,
    names: &Arc<Vec<String>>,
    budget: Budget,
) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::new();
    let base = match bare {
        Some(bare) => {
            let keys = Arc::new(names.iter().map(|n| ctx.key(n)).collect::<Vec<_>>());
            Some(bare_gets(bare, keys, budget).await?)
        }
        None => None,
    };
    let mut reg = remote_lookups(reader, names.clone(), budget).await?;
    if let Some(base) = base {
        let (a, b) = (reg.latency, base.latency);
        if let (Some(a), Some(b)) = (a, b) {
            let ratio = a.p50.as_secs_f64() / b.p50.as_secs_f64().max(f64::MIN_POSITIVE);
            reg = reg.with("p50_vs_baseline", (ratio * 1000.0).round() / 1000.0);
        }
        let ratio = reg.ops_per_sec() / base.ops_per_sec().max(f64::MIN_POSITIVE);
        reg = reg
            .with("ops_vs_baseline", (ratio * 1000.0).round() / 1000.0)
            .with_cpu_ratios(&base);
        reports.push(base);
    }
    reports.push(reg);
    Ok(reports)
}

pub(super) async fn whereis_remote(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let holder = start_registry(ctx, "bench-holder", None, ctx.pool()).await?;
    let reader = start_registry(ctx, "bench-reader", None, ctx.pool()).await?;
    let n = ctx.args.names;
    ctx.out.note(format_args!("registering {n} names"));
    let held = fill(&holder, "remote", 0..n).await?;
    let names = Arc::new((0..n).map(|i| format!("remote/{i}")).collect::<Vec<_>>());
    let bare = ctx.bare().await?;
    let budget = ctx.budget(ctx.args.concurrency);
    let keys = [
        "p50_vs_baseline",
        "ops_vs_baseline",
        "cpu_vs_baseline",
        "user_vs_baseline",
    ];
    ctx.in_rounds("whereis-remote", &keys, async |_| {
        remote_vs_baseline(ctx, &reader, bare.as_ref(), &names, budget).await
    })
    .await?;
    if let Some(bare) = bare {
        bare.close().await;
    }
    reader.shutdown().await?;
    holder.shutdown().await?;
    drop(held);
    Ok(())
}

/// Times `whereis_local` of random names among `names` (all held by
/// `registry`), one call at a time on a blocking thread, for about `time`.
pub(super) async fn local_lookups(
    registry: &Registry,
    names: Vec<Name>,
    time: Duration,
) -> anyhow::Result<Report> {
    let registry = registry.clone();
    let n = names.len();
    let (ops, elapsed, latency) = tokio::task::spawn_blocking(move || {
        let mut samples = Vec::with_capacity(2_000_000);
        let started = Instant::now();
        let mut i = 0u64;
        while samples.len() < 2_000_000 && (!i.is_multiple_of(1024) || started.elapsed() < time) {
            let name = &names[(load::mix(i) % n as u64) as usize];
            let t = Instant::now();
            let found = registry.whereis_local(name);
            let took = t.elapsed();
            assert!(found.is_some(), "{name} is not held");
            samples.push(took.as_nanos() as u64);
            i += 1;
        }
        let elapsed = started.elapsed();
        (samples.len() as u64, elapsed, Latency::from_nanos(samples))
    })
    .await?;
    let mut r = Report::new("whereis-local", "registry");
    r.concurrency = 1;
    r.names = n;
    r.ops = ops;
    r.elapsed = elapsed;
    r.latency = latency;
    // The clock reads around each call cost tens of nanoseconds: say so.
    let floor = clock_floor();
    Ok(r.with("clock_overhead_ns", floor.as_nanos() as u64))
}

/// The p50 of timing nothing: the floor under `local_lookups`' figures.
fn clock_floor() -> Duration {
    let mut samples = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let t = Instant::now();
        samples.push(t.elapsed().as_nanos() as u64);
    }
    Latency::from_nanos(samples).map_or(Duration::ZERO, |l| l.p50)
}

pub(super) async fn whereis_local(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let registry = start_registry(ctx, "bench-local", None, ctx.pool()).await?;
    let n = ctx.args.names;
    let before = load::rss_kib();
    ctx.out.note(format_args!("registering {n} names"));
    let started = Instant::now();
    let held = fill(&registry, "local", 0..n).await?;
    let fill_secs = started.elapsed().as_secs_f64();
    let after = load::rss_kib();
    let names = (0..n)
        .map(|i| Name::new(format!("local/{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let time = Duration::from_secs_f64(ctx.args.secs.min(5.0));
    let r = local_lookups(&registry, names, time)
        .await?
        .with("fill_secs", fill_secs)
        .with("rss_delta_kib", after.saturating_sub(before))
        .with(
            "bytes_per_name",
            (after.saturating_sub(before) * 1024) as f64 / n as f64,
        );
    ctx.out.emit(&r)?;
    registry.shutdown().await?;
    drop(held);
    Ok(())
}

pub(super) async fn churn(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let mut members = Vec::new();
    for m in 0..ctx.args.members {
        members.push(start_registry(ctx, &format!("bench-churn-{m}"), None, ctx.pool()).await?);
    }
    let members = Arc::new(members);
    let pool = ctx.args.names;
    let slots: Arc<Vec<Mutex<Option<Registration>>>> =
        Arc::new((0..pool).map(|_| Mutex::new(None)).collect());
    let tally = Arc::new(Tally::default());
    let budget = ctx.budget(ctx.args.concurrency);
    let run = {
        let (members, slots, tally) = (members.clone(), slots.clone(), tally.clone());
        load::drive(budget, move |i| {
            let (members, slots, tally) = (members.clone(), slots.clone(), tally.clone());
            async move { churn_op(&members, &slots, &tally, i).await }
        })
        .await?
    };
    let mut r = report("churn", "registry", &run);
    r.concurrency = budget.concurrency;
    r.names = pool;
    let r = r
        .with("members", members.len())
        .with("registered", tally.registered.load(Ordering::Relaxed))
        .with("conflicts", tally.conflicts.load(Ordering::Relaxed))
        .with("unregistered", tally.unregistered.load(Ordering::Relaxed))
        .with("lookups", tally.lookups.load(Ordering::Relaxed));
    ctx.out.emit(&r)?;
    for slot in slots.iter() {
        let held = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(held) = held {
            held.unregister().await?;
        }
    }
    for m in members.iter() {
        m.shutdown().await?;
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Tally {
    registered: AtomicU64,
    conflicts: AtomicU64,
    unregistered: AtomicU64,
    lookups: AtomicU64,
}

/// One random churn operation: 40% register, 30% unregister (a lookup when
/// the name is free), 30% lookup, by a random member of a random name.
async fn churn_op(
    members: &[Registry],
    slots: &[Mutex<Option<Registration>>],
    tally: &Tally,
    i: u64,
) -> anyhow::Result<()> {
    let r = load::mix(i);
    let member = &members[(r % members.len() as u64) as usize];
    let slot_index = ((r >> 16) % slots.len() as u64) as usize;
    let name = format!("churn/{slot_index}");
    let slot = &slots[slot_index];
    let dice = (r >> 48) % 10;
    if dice < 4 {
        match member.register(&name, owner()).await {
            Ok(registration) => {
                tally.registered.fetch_add(1, Ordering::Relaxed);
                // A name has one holder, so its slot is empty: a stored guard
                // would have made this registration a conflict.
                let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
                debug_assert!(slot.is_none(), "{name} registered twice");
                *slot = Some(registration);
            }
            Err(e) if matches!(e.kind(), ErrorKind::AlreadyRegistered { .. }) => {
                tally.conflicts.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(e.into()),
        }
        return Ok(());
    }
    if dice < 7 {
        let held = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(held) = held {
            held.unregister().await?;
            tally.unregistered.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
    }
    member.whereis(&name).await?;
    tally.lookups.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// A registry holding names, with its request counter.
#[derive(Debug)]
pub(super) struct Holder {
    pub(super) registry: Registry,
    pub(super) requests: Arc<Requests>,
    pub(super) held: Vec<Registration>,
}

impl Holder {
    pub(super) async fn start(ctx: &Ctx<'_>, member: &str) -> anyhow::Result<Self> {
        let requests = Arc::new(Requests::default());
        let registry = start_registry(ctx, member, Some(requests.clone()), ctx.pool()).await?;
        Ok(Self {
            registry,
            requests,
            held: Vec::new(),
        })
    }

    /// Registers names until `target` are held.
    pub(super) async fn grow(&mut self, prefix: &str, target: usize) -> anyhow::Result<()> {
        let from = self.held.len();
        if target > from {
            let more = fill(&self.registry, prefix, from..target).await?;
            self.held.extend(more);
        }
        Ok(())
    }
}

/// Keeps `holders` idle for `time` and reports the Consul requests each made.
pub(super) async fn count_requests(
    holders: &[&Holder],
    time: Duration,
) -> anyhow::Result<Vec<Report>> {
    // Let anything the fills triggered (reaper kicks) settle first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before: Vec<Counts> = holders.iter().map(|h| h.requests.snapshot()).collect();
    let started = Instant::now();
    tokio::time::sleep(time).await;
    let secs = started.elapsed().as_secs_f64();
    let per_min = |n: u64| (n as f64 * 60.0 / secs * 10.0).round() / 10.0;
    Ok(holders
        .iter()
        .zip(before)
        .map(|(h, before)| {
            let c = h.requests.snapshot().since(before);
            let mut r = Report::new("hold", "registry");
            r.names = h.held.len();
            r.with("window_secs", (secs * 10.0).round() / 10.0)
                .with("requests", c.total)
                .with("requests_per_min", per_min(c.total))
                .with("renew_per_min", per_min(c.renew))
                .with("session_info_per_min", per_min(c.session_info))
                .with("kv_per_min", per_min(c.kv))
                .with("txn_per_min", per_min(c.txn))
        })
        .collect())
}

pub(super) async fn hold(ctx: &Ctx<'_>) -> anyhow::Result<()> {
    let mut one = Holder::start(ctx, "bench-hold-1").await?;
    one.grow("hold1", 1).await?;
    let mut many = Holder::start(ctx, "bench-hold-many").await?;
    let n = ctx.args.names;
    ctx.out.note(format_args!("registering {n} names"));
    let before = load::rss_kib();
    many.grow("hold", n).await?;
    let after = load::rss_kib();
    let time = Duration::from_secs_f64(ctx.args.hold_secs);
    ctx.out
        .note(format_args!("holding for {:.0}s", time.as_secs_f64()));
    let reports = count_requests(&[&one, &many], time).await?;
    for (i, r) in reports.into_iter().enumerate() {
        let r = if i == 1 {
            let delta = after.saturating_sub(before);
            r.with("rss_delta_kib", delta)
                .with("bytes_per_name", (delta * 1024) as f64 / n as f64)
        } else {
            r
        };
        ctx.out.emit(&r)?;
    }
    ctx.out.note("releasing");
    for h in [one, many] {
        h.registry.shutdown().await?;
        drop(h.held);
    }
    Ok(())
}
