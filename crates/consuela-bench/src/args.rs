//! The command line: what to measure, against which server, and how hard.

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
    after_help = "Examples:\n  consuela-bench register --concurrency 64 --baseline\n  consuela-bench whereis-local --names 100000\n  consuela-bench whereis-remote --baseline --concurrency 1\n  consuela-bench send --concurrency 1\n  consuela-bench churn --members 4 --names 1000\n  consuela-bench hold --names 10000 --hold-secs 60\n  consuela-bench register --consul http://127.0.0.1:8500 --nodename consul0 --json\n  consuela-bench sweep --dev-process --json > docs/plots/sweep.jsonl && python3 scripts/perf_plots.py docs/plots/sweep.jsonl docs/plots"
)]
pub(super) struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value_t = Scenario::Register)]
    pub(super) scenario: Scenario,
    /// Consul HTTP address; without it a dev server on loopback is used.
    #[arg(long, value_name = "URL", env = "CONSUELA_CONSUL_URL")]
    pub(super) consul: Option<String>,
    /// Run the dev server as a child process instead of in this process, so
    /// that resident memory is the registry's alone.
    #[arg(long, conflicts_with = "consul")]
    pub(super) dev_process: bool,
    /// Be that child: serve a dev server on a loopback port until killed,
    /// printing its URL first (what `--dev-process` starts).
    #[arg(long, hide = true, conflicts_with_all = ["consul", "dev_process"])]
    pub(super) serve_dev: bool,
    /// The Consul node the sessions are bound to (the agent's node name).
    #[arg(long, default_value = "consuela-dev")]
    pub(super) nodename: String,
    /// The registry namespace (key prefix) the benchmark writes under.
    #[arg(long, default_value = "consuela-bench")]
    pub(super) namespace: String,
    /// Operations kept in flight at once.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub(super) concurrency: usize,
    /// Stop a timed run after this many operations...
    #[arg(long, default_value_t = 20_000)]
    pub(super) ops: u64,
    /// ...or after this many seconds, whichever comes first.
    #[arg(long, default_value_t = 10.0)]
    pub(super) secs: f64,
    /// Names held (whereis-local, whereis-remote, hold; the largest point of
    /// `sweep`) or the pool of names churned.
    #[arg(long, default_value_t = 10_000)]
    pub(super) names: usize,
    /// Registries taking part in `churn`.
    #[arg(long, default_value_t = 4)]
    pub(super) members: usize,
    /// How long `hold` (and `sweep`) keep their names while counting the
    /// Consul requests the registries make.
    #[arg(long, default_value_t = 60.0)]
    pub(super) hold_secs: f64,
    /// Seconds per point of `sweep`'s concurrency curve.
    #[arg(long, default_value_t = 2.0)]
    pub(super) point_secs: f64,
    /// Also run the bare-HTTP-client equivalent (register, whereis-remote).
    #[arg(long)]
    pub(super) baseline: bool,
    /// The bare client of `--baseline`: `reqwest`, or hyper-util's pooled
    /// client (what consuela-client sends through).
    #[arg(long, value_enum, default_value_t = BaselineClient::Reqwest)]
    pub(super) baseline_client: BaselineClient,
    /// Registrations per transaction (`registry.max_batch`); 1 turns
    /// batching off.
    #[arg(long, default_value_t = 64)]
    pub(super) max_batch: usize,
    /// Measure `register`, `whereis-remote` and `send` this many times,
    /// alternating the baseline and the registry, then print the median of
    /// each ratio (a `median` row): a slow phase of the machine then weighs
    /// on both sides alike instead of on one run.
    #[arg(long, default_value_t = 1)]
    pub(super) rounds: usize,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    pub(super) json: bool,
}

/// The HTTP client the baseline makes its requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum BaselineClient {
    /// `reqwest`, the usual Rust HTTP client.
    Reqwest,
    /// hyper-util's pooled client, the stack under consuela-client.
    Hyper,
}

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum Scenario {
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
    /// Messages to a named mailbox: from its owner's process, from another
    /// member, and as bare HTTP POSTs to the same mail endpoint.
    Send,
    /// Everything `docs/performance.md` plots: register vs baseline from 1
    /// to 256 in flight, remote lookups vs bare GETs, memory at 1,000 /
    /// 10,000 / `--names` names, local lookups, keeper traffic.
    Sweep,
}

impl Scenario {
    /// The name on the command line, e.g. `whereis-local`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::WhereisLocal => "whereis-local",
            Self::WhereisRemote => "whereis-remote",
            Self::Churn => "churn",
            Self::Hold => "hold",
            Self::Baseline => "baseline",
            Self::Send => "send",
            Self::Sweep => "sweep",
        }
    }
}
