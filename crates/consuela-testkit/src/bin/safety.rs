//! The long safety run:
//!
//! ```text
//! cargo run -p consuela-testkit --bin safety -- --members 5 --duration 600 --seed N
//! cargo run -p consuela-testkit --bin safety -- --limit 2 --members 5 --duration 600 --seed N
//! cargo run -p consuela-testkit --bin safety -- --measure-early-invalidation --ttl-ms 20000 --lock-delay-ms 10000
//! cargo run -p consuela-testkit --bin safety -- --runner target/release/consuela --members 4 --duration 600 --seed N
//! ```
//!
//! The binary is also its own member process (`safety member ...`), so `cargo run` needs to
//! build nothing else. Exits 1 when the checker finds a violation or a post-run check fails.
#![allow(clippy::print_stdout, reason = "a command-line tool reports on stdout")]

use std::process::ExitCode;
use std::time::Duration;

use consuela_testkit::safety::{
    EarlyInvalidation, RunnerConfig, SafetyConfig, measure_early_invalidation, member, run,
    run_runners,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("member") {
        return member::main(&args[1..]);
    }
    match parse(&args) {
        Ok(command) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(command.run())
        }
        Err(message) => {
            eprintln!("safety: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

const USAGE: &str = "usage: safety [--members N] [--duration SECS] [--seed N] [--names K] \
[--ttl-ms MS] [--lock-delay-ms MS] [--no-watch-session] [--unsafe-ignore-deadline] [--history PATH]
             [--limit N]   (the names are semaphores of N slots: at most N holders at once)
       safety --measure-early-invalidation [--ttl-ms MS] [--lock-delay-ms MS] [--renew-fraction N]
       safety --runner CONSUELA_BINARY [--members N] [--duration SECS] [--seed N] [--ttl-ms MS] [--lock-delay-ms MS]";

enum Command {
    Run(SafetyConfig),
    Measure(EarlyInvalidation),
    Runners(RunnerConfig),
}

fn parse(args: &[String]) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let history =
        std::env::temp_dir().join(format!("consuela-safety-{}.jsonl", std::process::id()));
    let mut config = SafetyConfig::new(exe.clone(), history.clone());
    config.member_prefix = vec!["member".into()];
    config.duration = Duration::from_secs(60);
    let mut measure = false;
    let mut runner: Option<std::path::PathBuf> = None;
    let mut renew_fraction = 2;
    let mut ttl_ms = None;
    let mut lock_delay_ms = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let mut number =
            || -> Result<u64, String> { value()?.parse().map_err(|e| format!("{flag}: {e}")) };
        match flag.as_str() {
            "--members" => config.members = number()? as usize,
            "--duration" => config.duration = Duration::from_secs(number()?),
            "--seed" => config.seed = number()?,
            "--names" => {
                config.names = (0..number()?)
                    .map(|i| format!("space/acceptor-{i}"))
                    .collect();
            }
            "--ttl-ms" => ttl_ms = Some(number()?),
            "--lock-delay-ms" => lock_delay_ms = Some(number()?),
            "--renew-fraction" => renew_fraction = number()? as u32,
            "--no-watch-session" => config.watch_session = false,
            "--unsafe-ignore-deadline" => config.unsafe_ignore_deadline = true,
            "--history" => config.history = value()?.into(),
            "--limit" => {
                config.limit = Some(u32::try_from(number()?).map_err(|e| e.to_string())?);
            }
            "--measure-early-invalidation" => measure = true,
            "--runner" => runner = Some(value()?.into()),
            "--help" | "-h" => return Err("help".into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let Some(ms) = ttl_ms {
        config.ttl = Duration::from_millis(ms);
    }
    if let Some(ms) = lock_delay_ms {
        config.lock_delay = Duration::from_millis(ms);
    }
    if let Some(consuela) = runner {
        let dir = std::env::temp_dir().join(format!("consuela-runner-{}", std::process::id()));
        let mut runners = RunnerConfig::new(consuela, dir);
        runners.members = config.members;
        runners.duration = config.duration;
        runners.seed = config.seed;
        if let Some(ms) = ttl_ms {
            runners.ttl = Duration::from_millis(ms);
        }
        if let Some(ms) = lock_delay_ms {
            runners.lock_delay = Duration::from_millis(ms);
        }
        return Ok(Command::Runners(runners));
    }
    if measure {
        return Ok(Command::Measure(EarlyInvalidation {
            member_program: exe,
            member_prefix: vec!["member".into()],
            history: config.history,
            ttl: config.ttl,
            lock_delay: config.lock_delay,
            renew_fraction,
            watch_session: true,
            cut_off: false,
        }));
    }
    Ok(Command::Run(config))
}

impl Command {
    async fn run(self) -> ExitCode {
        match self {
            Self::Run(config) => {
                println!(
                    "safety run: {} members, {}, {:?}, seed {}, TTL {:?}, lock-delay {:?}, watch_session {}, unsafe_ignore_deadline {}",
                    config.members,
                    config.limit.map_or_else(
                        || "unique names".to_owned(),
                        |l| format!("semaphores of {l} slots")
                    ),
                    config.duration,
                    config.seed,
                    config.ttl,
                    config.lock_delay,
                    config.watch_session,
                    config.unsafe_ignore_deadline
                );
                outcome(run(config).await.map(|r| (r.is_ok(), r.summary())))
            }
            Self::Runners(config) => {
                println!(
                    "runner safety run: {} runners of {}, {:?}, seed {}, TTL {:?}, lock-delay {:?}, grace {:?}",
                    config.members,
                    config.consuela.display(),
                    config.duration,
                    config.seed,
                    config.ttl,
                    config.lock_delay,
                    config.grace
                );
                outcome(run_runners(config).await.map(|r| (r.is_ok(), r.summary())))
            }
            Self::Measure(base) => {
                println!(
                    "early invalidation (hashicorp/consul#6793): TTL {:?}, lock-delay {:?}, renew every TTL/{}",
                    base.ttl, base.lock_delay, base.renew_fraction
                );
                for (watch_session, cut_off) in [(true, false), (false, false), (true, true)] {
                    let scenario = EarlyInvalidation {
                        watch_session,
                        cut_off,
                        ..base.clone()
                    };
                    match measure_early_invalidation(scenario).await {
                        Ok(report) => println!(
                            "watch_session={watch_session:<5} cut_off={cut_off:<5}: {report}"
                        ),
                        Err(e) => {
                            eprintln!("safety: {e}");
                            return ExitCode::from(2);
                        }
                    }
                }
                ExitCode::SUCCESS
            }
        }
    }
}

/// Prints a run's summary; exit 0 when it passed, 1 on a violation, 2 when
/// the run could not be set up.
fn outcome(result: Result<(bool, String), consuela_testkit::safety::BoxError>) -> ExitCode {
    match result {
        Ok((ok, summary)) => {
            println!("{summary}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("safety: {e}");
            ExitCode::from(2)
        }
    }
}
