//! `consuela-bench`: measure the registry against Consul (or a dev server)
//! and against a bare HTTP client doing the same requests.
//!
//! Every scenario yields [`Report`]s: operations per second, p50/p90/p99/max
//! latency, resident memory and the load average when it ran. They print as a
//! table, or as one JSON object per line with `--json` (what
//! `scripts/perf_plots.py` reads to draw `docs/plots/*.svg`).
//!
//! A binary of its own, not a `consuela` subcommand, so that the `consuela`
//! command line carries neither the benchmark nor its bare HTTP client.

mod baseline;
mod load;
mod scenario;
mod server;
mod sweep;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use self::load::Latency;
use self::server::Server;

/// Measure registrations, lookups, churn and keeper traffic.
///
/// Runs against `--consul URL`, or by default against a dev server embedded in
/// this process on a loopback port (`--dev-process` runs it as a child
/// process instead, so that resident memory counts the registry alone). Each
/// scenario prints operations per second, p50/p90/p99/max latency, resident
/// memory and the load average; `--json` prints the same as one JSON object
/// per line. `--baseline` also runs the same HTTP requests with a bare HTTP
/// client on the same server, so the registry's overhead is a ratio measured
/// in one run.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "consuela-bench",
    version,
    after_help = "Examples:\n  consuela-bench register --concurrency 64 --baseline\n  consuela-bench whereis-local --names 100000\n  consuela-bench whereis-remote --baseline --concurrency 1\n  consuela-bench churn --members 4 --names 1000\n  consuela-bench hold --names 10000 --hold-secs 60\n  consuela-bench register --consul http://127.0.0.1:8500 --nodename consul0 --json\n  consuela-bench sweep --dev-process --json > docs/plots/sweep.jsonl && python3 scripts/perf_plots.py docs/plots/sweep.jsonl docs/plots"
)]
struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value_t = Scenario::Register)]
    scenario: Scenario,
    /// Consul HTTP address; without it a dev server on loopback is used.
    #[arg(long, value_name = "URL", env = "CONSUELA_CONSUL_URL")]
    consul: Option<String>,
    /// Run the dev server as a child process instead of in this process, so
    /// that resident memory is the registry's alone.
    #[arg(long, conflicts_with = "consul")]
    dev_process: bool,
    /// Be that child: serve a dev server on a loopback port until killed,
    /// printing its URL first (what `--dev-process` starts).
    #[arg(long, hide = true, conflicts_with_all = ["consul", "dev_process"])]
    serve_dev: bool,
    /// The Consul node the sessions are bound to (the agent's node name).
    #[arg(long, default_value = "consuela-dev")]
    nodename: String,
    /// The registry namespace (key prefix) the benchmark writes under.
    #[arg(long, default_value = "consuela-bench")]
    namespace: String,
    /// Operations kept in flight at once.
    #[arg(long, short = 'c', default_value_t = 64)]
    concurrency: usize,
    /// Stop a timed run after this many operations...
    #[arg(long, default_value_t = 20_000)]
    ops: u64,
    /// ...or after this many seconds, whichever comes first.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Names held (whereis-local, whereis-remote, hold; the largest point of
    /// `sweep`) or the pool of names churned.
    #[arg(long, default_value_t = 10_000)]
    names: usize,
    /// Registries taking part in `churn`.
    #[arg(long, default_value_t = 4)]
    members: usize,
    /// How long `hold` (and `sweep`) keep their names while counting the
    /// Consul requests the registries make.
    #[arg(long, default_value_t = 60.0)]
    hold_secs: f64,
    /// Seconds per point of `sweep`'s concurrency curve.
    #[arg(long, default_value_t = 2.0)]
    point_secs: f64,
    /// Also run the bare-HTTP-client equivalent (register, whereis-remote).
    #[arg(long)]
    baseline: bool,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    /// Register + unregister pairs, `--concurrency` in flight.
    Register,
    /// `whereis_local` of one of `--names` held names: a memory read.
    WhereisLocal,
    /// `whereis` of names held by another member: one GET each.
    WhereisRemote,
    /// `--members` registries registering, unregistering and looking up a
    /// pool of `--names` names at random.
    Churn,
    /// Hold 1 and `--names` names in two registries for `--hold-secs`;
    /// count their Consul requests and resident memory.
    Hold,
    /// Only the bare-HTTP-client runs: lock+delete pairs and GETs.
    Baseline,
    /// Everything `docs/performance.md` plots: register vs baseline from 1
    /// to 256 in flight, remote lookups vs bare GETs, memory at 1,000 /
    /// 10,000 / `--names` names, local lookups, keeper traffic.
    Sweep,
}

/// One measured result.
#[derive(Debug, Clone)]
struct Report {
    /// Scenario name, e.g. `register`.
    scenario: &'static str,
    /// `registry` or `baseline`.
    implementation: &'static str,
    concurrency: usize,
    names: usize,
    ops: u64,
    elapsed: Duration,
    latency: Option<Latency>,
    /// VmRSS of this process when the report was made.
    rss_kib: u64,
    /// Anything scenario-specific (counts, ratios, memory deltas).
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    fn new(scenario: &'static str, implementation: &'static str) -> Self {
        Self {
            scenario,
            implementation,
            concurrency: 0,
            names: 0,
            ops: 0,
            elapsed: Duration::ZERO,
            latency: None,
            rss_kib: load::rss_kib(),
            extra: serde_json::Map::new(),
        }
    }

    fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ops as f64 / secs
        } else {
            0.0
        }
    }

    fn to_json(&self, server: &str) -> serde_json::Value {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let latency = self.latency.as_ref().map(|l| {
            serde_json::json!({
                "p50": us(l.p50), "p90": us(l.p90), "p99": us(l.p99), "max": us(l.max), "mean": us(l.mean),
            })
        });
        serde_json::json!({
            "scenario": self.scenario,
            "impl": self.implementation,
            "server": server,
            "concurrency": self.concurrency,
            "names": self.names,
            "ops": self.ops,
            "secs": self.elapsed.as_secs_f64(),
            "ops_per_sec": self.ops_per_sec(),
            "latency_us": latency,
            "rss_kib": self.rss_kib,
            "loadavg": load::loadavg(),
            "extra": self.extra,
        })
    }

    fn to_text(&self) -> String {
        let mut line = format!(
            "{:<15} {:<8} c={:<4} names={:<7}",
            self.scenario, self.implementation, self.concurrency, self.names
        );
        if self.ops > 0 {
            line.push_str(&format!(" {:>11.0} ops/s", self.ops_per_sec()));
        }
        if let Some(l) = &self.latency {
            line.push_str(&format!(
                "  p50 {} p90 {} p99 {} max {}",
                fmt_dur(l.p50),
                fmt_dur(l.p90),
                fmt_dur(l.p99),
                fmt_dur(l.max)
            ));
        }
        line.push_str(&format!(
            "  rss {:.1} MiB  load {}",
            self.rss_kib as f64 / 1024.0,
            load::loadavg()
        ));
        for (k, v) in &self.extra {
            line.push_str(&format!("  {k}={v}"));
        }
        line
    }
}

fn fmt_dur(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns}ns")
    } else if ns < 10_000_000 {
        format!("{:.1}µs", ns as f64 / 1e3)
    } else {
        format!("{:.2}ms", ns as f64 / 1e6)
    }
}

/// Where reports go: a table or JSON lines on stdout.
#[derive(Debug)]
struct Output {
    json: bool,
    server: String,
}

impl Output {
    fn emit(&self, report: &Report) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            writeln!(out, "{}", report.to_json(&self.server))?;
        } else {
            writeln!(out, "{}", report.to_text())?;
        }
        out.flush()?;
        Ok(())
    }

    /// Progress notes go to stderr so that `--json` output stays clean.
    fn note(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr().lock(), "consuela-bench: {text}");
    }
}

/// Exit code: the benchmark failed (server unreachable, bad arguments, a
/// failed operation); the code the `consuela` binary uses for its failures.
const EXIT_ERROR: u8 = 70;

fn main() -> ExitCode {
    let args = BenchArgs::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("consuela-bench: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let result = runtime.block_on(async move {
        if args.serve_dev {
            server::serve_dev(&args).await
        } else {
            run(args).await
        }
    });
    // Background tasks (blocking queries, keepers) must not delay the exit.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("consuela-bench: {}", one_line(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The error on one line: the outermost context and the root cause, without
/// repeating text.
fn one_line(error: &anyhow::Error) -> String {
    let outer = error.to_string();
    let root = error.root_cause().to_string();
    let line = if outer.contains(&root) {
        outer
    } else {
        format!("{outer}: {root}")
    };
    line.replace('\n', " ")
}

/// Logs go to stderr, filtered by `CONSUELA_LOG` (default `warn`), as the
/// `consuela` binary does.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONSUELA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs the selected scenario.
async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(args.names > 0, "--names must be at least 1");
    anyhow::ensure!(args.members > 0, "--members must be at least 1");
    let server = Server::start(&args).await?;
    let out = Output {
        json: args.json,
        server: server.kind().to_owned(),
    };
    out.note(format_args!(
        "{} on {} ({}), load {}",
        scenario_name(args.scenario),
        server.url(),
        server.kind(),
        load::loadavg()
    ));
    let ctx = scenario::Ctx {
        args: &args,
        url: server.url().to_owned(),
        out: &out,
    };
    let result = match args.scenario {
        Scenario::Register => scenario::register(&ctx).await,
        Scenario::WhereisLocal => scenario::whereis_local(&ctx).await,
        Scenario::WhereisRemote => scenario::whereis_remote(&ctx).await,
        Scenario::Churn => scenario::churn(&ctx).await,
        Scenario::Hold => scenario::hold(&ctx).await,
        Scenario::Baseline => scenario::baseline(&ctx).await,
        Scenario::Sweep => sweep::run(&ctx).await,
    };
    server.stop().await;
    result.map(|()| ExitCode::SUCCESS)
}

fn scenario_name(s: Scenario) -> &'static str {
    match s {
        Scenario::Register => "register",
        Scenario::WhereisLocal => "whereis-local",
        Scenario::WhereisRemote => "whereis-remote",
        Scenario::Churn => "churn",
        Scenario::Hold => "hold",
        Scenario::Baseline => "baseline",
        Scenario::Sweep => "sweep",
    }
}
