//! `consuela run` and `consuela leader`: run an OS process while holding a name.

use std::ffi::OsString;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use consuela::registry::State;
use consuela::singleton::Leadership;
use consuela::{Contact, FencingToken, Holder, RegisterOptions, Registry};
use rustix::process::{Pid, Signal, kill_process};
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use crate::connect::GlobalArgs;
use crate::exit::{EXIT_LOST, EXIT_TAKEN};

/// Run a command while holding NAME; stop it the moment ownership is lost.
///
/// If NAME is taken, exit at once with code 75 (or, with --wait, wait until
/// it is free). When the command exits, NAME is released and its exit code
/// passed through. When ownership is lost (the Consul session expired or was
/// invalidated), the command gets SIGTERM, SIGKILL after --grace, and
/// consuela exits with 76. SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and
/// SIGUSR2 are forwarded to the command. If consuela dies, even by SIGKILL,
/// the command is killed with it (Linux parent-death signal).
///
/// The command finds CONSUELA_NAME, CONSUELA_MEMBER and
/// CONSUELA_FENCING_TOKEN in its environment: the token strictly increases
/// across owners of NAME, so a store that remembers the highest token it has
/// seen can refuse a stale owner's writes.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  consuela run jobs/compactor -- ./compactor --once\n  consuela run --wait --address 10.0.0.5:7000 --meta role=primary db/primary -- ./db --port 7000\n\n",
    crate::exit::exit_codes!()
))]
pub(crate) struct RunArgs {
    /// The name to hold while the command runs.
    name: String,
    #[command(flatten)]
    owner: OwnerArgs,
    /// If NAME is taken, wait until it is free instead of exiting with 75.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    child: ChildArgs,
    #[command(flatten)]
    pub(crate) consul: GlobalArgs,
}

/// Stand by until this member is the singleton NAME, then run a command.
///
/// Like `consul lock`: every member that runs `consuela leader NAME` competes
/// for NAME; exactly one runs its command at a time, the others watch the
/// name with blocking queries and take over when it is free. Loss of
/// ownership, signals and exit codes are handled as by `consuela run`.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  consuela leader cron/scheduler -- ./scheduler\n  consuela leader --grace 2s --address 10.0.0.7:9000 billing/master -- ./billing --master\n\n",
    crate::exit::exit_codes!()
))]
pub(crate) struct LeaderArgs {
    /// The singleton's name.
    name: String,
    #[command(flatten)]
    owner: OwnerArgs,
    #[command(flatten)]
    child: ChildArgs,
    #[command(flatten)]
    pub(crate) consul: GlobalArgs,
}

#[derive(Debug, clap::Args)]
struct OwnerArgs {
    /// How to reach the command (stored with the name, shown by whereis/ls).
    #[arg(long, value_name = "ADDRESS")]
    address: Option<String>,
    /// Metadata stored with the name; repeatable.
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
    meta: Vec<(String, String)>,
}

impl OwnerArgs {
    fn owner(&self) -> Contact {
        let mut owner = Contact::default();
        owner.address.clone_from(&self.address);
        if !self.meta.is_empty() {
            owner.meta = serde_json::Value::Object(
                self.meta
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect(),
            );
        }
        owner
    }
}

#[derive(Debug, clap::Args)]
struct ChildArgs {
    /// How long the command has to exit after SIGTERM on loss of ownership,
    /// before SIGKILL. Keep it below the session's lock-delay (10s by
    /// default), so the command is gone before anyone else can own the name.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    grace: Duration,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

fn parse_meta(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// `500ms`, `5s`, `2m` or plain seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, ""), |i| text.split_at(i));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (try 500ms, 5s, 2m)"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("invalid duration {text:?} (try 500ms, 5s, 2m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

pub(crate) async fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.wait {
        return lead(global, &args.name, args.owner.owner(), &args.child).await;
    }
    let mut signals = Signals::new()?;
    let registry = global.registry().await?;
    // A crashed holder's lock-delay leaves the name free but not yet
    // acquirable: wait it out rather than report it as taken.
    let options = RegisterOptions::new().wait_out_lock_delay();
    let registration = match registry
        .register_with(&args.name, args.owner.owner(), options)
        .await
    {
        Ok(registration) => registration,
        Err(e) if e.is_conflict() => {
            let _ = registry.shutdown().await;
            eprintln!(
                "consuela: {} is held by {}",
                args.name,
                e.holder()
                    .map_or_else(|| "another process".to_owned(), describe)
            );
            return Ok(ExitCode::from(EXIT_TAKEN));
        }
        Err(e) => {
            let _ = registry.shutdown().await;
            return Err(e).with_context(|| format!("cannot register {}", args.name));
        }
    };
    let mut child = match spawn(
        &args.child,
        &args.name,
        registry.member(),
        registration.fencing_token(),
    ) {
        Ok(child) => child,
        Err(e) => {
            let _ = registration.unregister().await;
            let _ = registry.shutdown().await;
            return Err(e);
        }
    };
    let outcome = supervise(
        &mut child,
        registration.lost(),
        &mut signals,
        args.child.grace,
    )
    .await;
    finish(&registry, &args.name, outcome, async move {
        let _ = registration.unregister().await;
    })
    .await
}

pub(crate) async fn leader(global: &GlobalArgs, args: LeaderArgs) -> anyhow::Result<ExitCode> {
    lead(global, &args.name, args.owner.owner(), &args.child).await
}

/// Competes for `name` as a singleton; runs the command while leading.
async fn lead(
    global: &GlobalArgs,
    name: &str,
    owner: Contact,
    child_args: &ChildArgs,
) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::new()?;
    let registry = global.registry().await?;
    // The singleton's future only signals "you lead" and then parks: it is
    // dropped when ownership is lost, which drops `alive` and wakes `gone`.
    // The command itself is spawned here, on the main thread (see main.rs).
    let (turns, mut turn) = mpsc::channel::<oneshot::Receiver<()>>(1);
    let handle = registry.leader(name, owner, move || {
        let turns = turns.clone();
        async move {
            let (alive, gone) = oneshot::channel::<()>();
            if turns.send(gone).await.is_ok() {
                let _alive = alive;
                std::future::pending::<()>().await;
            }
        }
    })?;
    let mut leadership = handle.subscribe();
    let mut announced = false;
    let gone = loop {
        tokio::select! {
            gone = turn.recv() => match gone {
                Some(gone) => break gone,
                None => bail!("stopped competing for {name}"),
            },
            changed = leadership.changed() => {
                let state = leadership.borrow_and_update().clone();
                match state {
                    _ if changed.is_err() => {
                        let _ = registry.shutdown().await;
                        bail!("stopped competing for {name}");
                    }
                    Leadership::Standby { leader: Some(holder) } if !announced => {
                        eprintln!("consuela: {name} is held by {}; standing by", describe(&holder));
                        announced = true;
                    }
                    Leadership::Stopped(reason) => {
                        let _ = registry.shutdown().await;
                        bail!("stopped competing for {name}: {reason:?}");
                    }
                    _ => {}
                }
            }
            signal = signals.recv() => {
                handle.stop().await;
                let _ = registry.shutdown().await;
                return Ok(ExitCode::from(signal_exit(signal.as_raw())));
            }
        }
    };
    let Leadership::Leader { fencing_token, .. } = handle.leadership() else {
        // Lost between winning and reading the token: never started.
        let _ = registry.shutdown().await;
        eprintln!("consuela: lost ownership of {name} before the command started");
        return Ok(ExitCode::from(EXIT_LOST));
    };
    let mut child = match spawn(child_args, name, registry.member(), fencing_token) {
        Ok(child) => child,
        Err(e) => {
            handle.stop().await;
            let _ = registry.shutdown().await;
            return Err(e);
        }
    };
    let lost = async move {
        let _ = gone.await;
    };
    let outcome = supervise(&mut child, lost, &mut signals, child_args.grace).await;
    finish(&registry, name, outcome, handle.stop()).await
}

/// What ended the command.
enum Outcome {
    /// It exited with this code.
    Exited(u8),
    /// Ownership was lost; it was stopped.
    Lost,
}

/// Releases the name (`release`) and shuts the registry down, or reports the
/// loss; turns the outcome into the exit code.
async fn finish(
    registry: &Registry,
    name: &str,
    outcome: anyhow::Result<Outcome>,
    release: impl Future<Output = ()>,
) -> anyhow::Result<ExitCode> {
    match outcome {
        Ok(Outcome::Exited(code)) => {
            release.await;
            let _ = registry.shutdown().await;
            Ok(ExitCode::from(code))
        }
        Ok(Outcome::Lost) => {
            let why = match registry.state() {
                State::Lost(reason) => reason.to_string(),
                _ => "the registry stopped".to_owned(),
            };
            drop(release);
            let _ = registry.shutdown().await;
            eprintln!("consuela: lost ownership of {name} ({why}); the command was stopped");
            Ok(ExitCode::from(EXIT_LOST))
        }
        Err(e) => {
            release.await;
            let _ = registry.shutdown().await;
            Err(e)
        }
    }
}

/// `member#rid at address since …`
pub(crate) fn describe(holder: &Holder) -> String {
    let mut text = holder.id.to_string();
    if let Some(address) = &holder.contact.address {
        text.push_str(" at ");
        text.push_str(address);
    }
    if let Some(since) = holder.since {
        text.push_str(&format!(" since {since}"));
    }
    text
}

/// Starts the command through `consuela __exec-child`, which arms the
/// parent-death signal before it executes the command.
fn spawn(
    args: &ChildArgs,
    name: &str,
    member: &str,
    fencing_token: FencingToken,
) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("cannot find the consuela executable")?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("__exec-child")
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--")
        .args(&args.command)
        .env("CONSUELA_NAME", name)
        .env("CONSUELA_MEMBER", member)
        .env("CONSUELA_FENCING_TOKEN", fencing_token.to_string())
        .kill_on_drop(true);
    command.spawn().context("cannot start the command")
}

/// Waits for the command to exit, forwarding signals, and stops it when
/// `lost` fires.
async fn supervise(
    child: &mut Child,
    lost: impl Future<Output = ()>,
    signals: &mut Signals,
    grace: Duration,
) -> anyhow::Result<Outcome> {
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw)
        .context("the command has no pid")?;
    tokio::pin!(lost);
    loop {
        tokio::select! {
            biased;
            () = &mut lost => {
                stop(child, pid, grace).await;
                return Ok(Outcome::Lost);
            }
            status = child.wait() => {
                return Ok(Outcome::Exited(exit_code(status.context("cannot wait for the command")?)));
            }
            signal = signals.recv() => {
                // The command may have just exited; the next wait says so.
                let _ = kill_process(pid, signal);
            }
        }
    }
}

/// SIGTERM, then SIGKILL after `grace`.
async fn stop(child: &mut Child, pid: Pid, grace: Duration) {
    let _ = kill_process(pid, Signal::TERM);
    if timeout(grace, child.wait()).await.is_err() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => signal_exit(signal),
        (None, None) => 1,
    }
}

/// A shell's exit code for "killed by `signal`".
fn signal_exit(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}

/// The signals forwarded to the command.
struct Signals {
    streams: Vec<(tokio::signal::unix::Signal, Signal)>,
}

impl Signals {
    fn new() -> anyhow::Result<Self> {
        let kinds = [
            (SignalKind::terminate(), Signal::TERM),
            (SignalKind::interrupt(), Signal::INT),
            (SignalKind::hangup(), Signal::HUP),
            (SignalKind::quit(), Signal::QUIT),
            (SignalKind::user_defined1(), Signal::USR1),
            (SignalKind::user_defined2(), Signal::USR2),
        ];
        let streams = kinds
            .into_iter()
            .map(|(kind, sig)| Ok((signal(kind).context("cannot handle signals")?, sig)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { streams })
    }

    /// The next signal received.
    async fn recv(&mut self) -> Signal {
        let waits = self.streams.iter_mut().map(|(stream, sig)| {
            let sig = *sig;
            Box::pin(async move {
                stream.recv().await;
                sig
            })
        });
        futures_util::future::select_all(waits).await.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn meta_pairs() {
        assert_eq!(parse_meta("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_meta("=x").is_err());
        assert!(parse_meta("x").is_err());
    }
}
