//! The `consuela` command line.
#![allow(clippy::print_stdout, reason = "a CLI prints")]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{EXIT_ERROR, exit_codes};

mod connect;
mod demo;
mod dev;
mod exec;
mod exit;
mod guard;
mod handover;
mod join;
mod lease;
mod limit;
mod query;
mod run;
mod send;
mod signals;
mod status;
mod tree;

/// A distributed, consistent process registry over Consul.
///
/// Names are Consul KV locks held by a Consul session; a name never has two
/// live owners. Consul is found through --consul, the CONSUL_HTTP_ADDR
/// variable, `consul.url` in --config, or http://127.0.0.1:8500.
#[derive(Debug, Parser)]
#[command(
    name = "consuela",
    version,
    about,
    propagate_version = true,
    after_help = concat!(
        "Examples:\n  consuela demo\n  consuela dev\n  consuela run jobs/compactor -- ./compactor --once\n  consuela ls --json\n\n",
        exit_codes!()
    )
)]
struct Cli {
    /// Log what consuela does (sessions, renewals, the guardian) on stderr,
    /// as `consul lock -verbose`; CONSUELA_LOG=<filter> gives finer control.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(flatten)]
    global: connect::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(run::RunArgs),
    Leader(run::LeaderArgs),
    Join(join::JoinArgs),
    Whereis(query::WhereisArgs),
    Ls(query::LsArgs),
    Watch(query::WatchArgs),
    Send(send::SendArgs),
    Demo(demo::DemoArgs),
    Dev(dev::DevArgs),
    #[command(name = "__exec-child", hide = true)]
    ExecChild(exec::ExecChildArgs),
    #[command(name = "__guard", hide = true)]
    Guard(guard::GuardArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The re-exec'd child wrapper must not start threads or a runtime: it
    // only arms the parent-death signal and replaces itself with the command.
    let command = match cli.command {
        Command::ExecChild(args) => return exec::exec_child(args),
        // The guardian runs its own single-threaded runtime.
        Command::Guard(args) => return guard::guard(args),
        command => command,
    };
    init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("consuela: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let global = cli.global;
    // `block_on` runs this future on the main thread, which lives as long as
    // the process: `run` and `leader` spawn their command from it, so the
    // command's parent-death signal fires only when the process dies (Linux
    // ties it to the thread that forked).
    let result = runtime.block_on(async move {
        match command {
            Command::Run(args) if args.limit.is_some() => {
                limit::run(&global.with(&args.consul), args).await
            }
            Command::Run(args) => run::run(&global.with(&args.consul), args).await,
            Command::Leader(args) => run::leader(&global.with(&args.consul), args).await,
            Command::Join(args) => join::join(&global.with(&args.consul), args).await,
            Command::Whereis(args) => query::whereis(&global.with(&args.consul), args).await,
            Command::Ls(args) => query::ls(&global.with(&args.consul), args).await,
            Command::Watch(args) => query::watch(&global.with(&args.consul), args).await,
            Command::Send(args) => send::send(&global.with(&args.consul), args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Dev(args) => dev::run(args).await,
            Command::ExecChild(_) | Command::Guard(_) => {
                unreachable!("handled before the runtime starts")
            }
        }
    });
    // Background tasks (blocking queries) must not delay the exit.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("consuela: {}", one_line(&e));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The error on one line: the outermost context and the root cause (the
/// layers between are transport details), without repeating text. A TLS
/// failure is named by its cause (certificate required, unknown issuer,
/// ...) rather than by rustls's own words.
fn one_line(error: &anyhow::Error) -> String {
    let outer = error.to_string();
    let tls = error.chain().find_map(|cause| {
        cause
            .downcast_ref::<consuela_client::Error>()
            .and_then(consuela_client::Error::tls_failure)
    });
    // A configuration error names the file or variable; the I/O error below
    // it alone would not say which.
    let config = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<consuela_client::ConfigError>());
    let root = match (tls, config) {
        (Some(failure), _) => format!("TLS handshake failed: {failure}"),
        (None, Some(config)) => {
            let text = config.to_string();
            match std::error::Error::source(config) {
                Some(source) if !text.contains(&source.to_string()) => {
                    format!("{text}: {source}")
                }
                _ => text,
            }
        }
        (None, None) => error.root_cause().to_string(),
    };
    let line = if outer.contains(&root) {
        outer
    } else {
        format!("{outer}: {root}")
    };
    line.replace('\n', " ")
}

fn init_tracing(verbose: bool) {
    let default = if verbose {
        "info,consuela=debug"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONSUELA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
