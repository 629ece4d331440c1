//! `consuela-bench`: measure the registry against Consul (or a dev server)
//! and against a bare HTTP client doing the same requests.
//!
//! Every scenario yields [`Report`](report::Report)s: operations per second,
//! p50/p90/p99/max latency, resident memory and the load average when it ran.
//! They print as a table, or as one JSON object per line with `--json` (what
//! `scripts/perf_plots.py` reads to draw `docs/plots/*.svg`).
//!
//! A binary of its own, not a `consuela` subcommand, so that the `consuela`
//! command line carries neither the benchmark nor its bare HTTP client.
//! This file only starts the runtime and dispatches; the modules below it
//! depend on each other, never on it.

mod args;
mod baseline;
mod load;
mod report;
mod scenario;
mod send;
mod server;
mod sweep;

use std::process::ExitCode;

use clap::Parser;

use self::args::{BenchArgs, Scenario};
use self::report::Output;
use self::server::Server;

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
            // anyhow's alternate form: the whole chain on one line.
            eprintln!("consuela-bench: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
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
        args.scenario.name(),
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
        Scenario::Send => send::send(&ctx).await,
        Scenario::Sweep => sweep::run(&ctx).await,
    };
    server.stop().await;
    result.map(|()| ExitCode::SUCCESS)
}
