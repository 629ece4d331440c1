//! `consuela bench`: measure the registry against Consul (or an embedded dev
//! server) and against a bare HTTP client doing the same requests.

use std::process::ExitCode;

/// Measure registrations, lookups, churn and keeper traffic.
///
/// Runs against `--consul URL`, or by default against a dev server embedded in
/// this process on a loopback port. Each scenario prints operations per
/// second, p50/p90/p99/max latency and the resident memory of this process;
/// `--json` prints the same as one JSON object per line, for scripts.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  consuela bench register --concurrency 64 --ops 20000\n  consuela bench whereis-local --names 100000\n  consuela bench hold --names 10000 --hold-secs 60 --json\n  consuela bench register --baseline --consul http://127.0.0.1:8500\n  consuela bench sweep --json > docs/plots/sweep.jsonl"
)]
pub(crate) struct BenchArgs {
    /// What to measure.
    #[arg(value_enum, default_value_t = Scenario::Register)]
    scenario: Scenario,
    /// Consul HTTP address; without it an embedded dev server is used.
    #[arg(long, value_name = "URL", env = "CONSUELA_CONSUL_URL")]
    consul: Option<String>,
    /// Operations kept in flight at once.
    #[arg(long, short = 'c', default_value_t = 64)]
    concurrency: usize,
    /// Operations to time (per scenario run).
    #[arg(long, default_value_t = 20_000)]
    ops: u64,
    /// Names held (whereis-local, whereis-remote, churn members, hold).
    #[arg(long, default_value_t = 10_000)]
    names: usize,
    /// How long `hold` keeps its names while counting Consul requests.
    #[arg(long, default_value_t = 60)]
    hold_secs: u64,
    /// Also run the same HTTP requests with a bare HTTP client (`baseline`).
    #[arg(long)]
    baseline: bool,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    /// Register + unregister pairs, `--concurrency` in flight.
    Register,
    /// `whereis_local` of held names: a memory read.
    WhereisLocal,
    /// `whereis` of names held by another member: one GET each.
    WhereisRemote,
    /// `--names` members' worth of random register/unregister/lookup.
    Churn,
    /// Hold `--names` names for `--hold-secs` and count the keeper's requests.
    Hold,
    /// The bare-HTTP-client equivalent of `register` and `whereis-remote`.
    Baseline,
    /// Everything the performance report plots, with small bounded sizes.
    Sweep,
}

/// Runs the selected scenario.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "consuela bench {:?}: not implemented yet (args: {args:?})",
        args.scenario
    )
}
