//! `consuela run` and `consuela leader`: run an OS process while holding a name.

use std::ffi::OsString;
use std::future::Future;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use consuela::config::parse_duration;
use consuela::event::Event;
use consuela::registry::State;
use consuela::singleton::Leadership;
use consuela::{Config, Contact, FencingToken, Holder, RegisterOptions, Registry};
use rustix::process::{Pid, kill_process};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout};

use crate::connect::GlobalArgs;
use crate::exit::{EXIT_LOST, EXIT_TAKEN, EXIT_TIMEOUT, exit_code, signal_exit};
use crate::guard::STOP;
use crate::handover::{HANDOVER_ENV, Handover};
use crate::lease;
use crate::signals::Signals;
use crate::status::{self, StatusHandle};
use crate::tree;

/// How long the guardian has to call back after it started.
const GUARD_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Run a command while holding NAME; stop it the moment ownership is lost.
///
/// If NAME is taken, exit at once with code 75 (or, with --wait, wait until
/// it is free, at most --timeout). When the command exits, NAME is released
/// and its exit code passed through.
///
/// The command runs in a process group of its own under a guardian process
/// that is a child subreaper, so its whole tree (children that fork, double
/// fork or call setsid) stays contained: when the command exits, when
/// ownership is lost (exit code 76), on a signal to consuela, and when
/// consuela dies by any means, even SIGKILL, every process of the tree gets
/// SIGTERM, then SIGKILL after --grace, and NAME is released only once all
/// of them are gone. After a crash of consuela the guardian releases NAME
/// itself, so a waiter takes over within about a second instead of the
/// session's TTL plus lock-delay; if consuela is stopped (SIGSTOP) or stuck,
/// the guardian stops the tree when the ownership deadline it was last told
/// passes. SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are
/// forwarded to the command.
///
/// The command finds CONSUELA_NAME, CONSUELA_MEMBER, CONSUELA_FENCING_TOKEN
/// and CONSUL_LOCK_HELD=true in its environment: the token strictly
/// increases across owners of NAME, so a store that remembers the highest
/// token it has seen can refuse a stale owner's writes.
#[derive(Debug, clap::Args)]
#[command(after_help = concat!(
    "Examples:\n  consuela run jobs/compactor -- ./compactor --once\n  consuela run --wait --address 10.0.0.5:7000 --meta role=primary db/primary -- ./db --port 7000\n\n",
    crate::exit::exit_codes!()
))]
pub(crate) struct RunArgs {
    /// The name to hold while the command runs.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) owner: OwnerArgs,
    /// If NAME is taken, wait until it is free instead of exiting with 75.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Hold one of N slots of the semaphore NAME instead of NAME itself, in
    /// the layout of `consul lock -n N <namespace>/NAME`, so both share the
    /// slots (exit 75 when all N are held, unless --wait).
    #[arg(long, value_name = "N")]
    pub(crate) limit: Option<u32>,
    #[command(flatten)]
    pub(crate) lock: LockArgs,
    #[command(flatten)]
    pub(crate) child: ChildArgs,
    #[command(flatten)]
    pub(crate) consul: GlobalArgs,
}

/// Stand by until this member is the singleton NAME, then run a command.
///
/// Like `consul lock`: every member that runs `consuela leader NAME` competes
/// for NAME; exactly one runs its command at a time, the others watch the
/// name with blocking queries and take over when it is free (at most
/// --timeout). The command's process tree, loss of ownership, signals and
/// exit codes are handled as by `consuela run`.
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
    lock: LockArgs,
    #[command(flatten)]
    child: ChildArgs,
    #[command(flatten)]
    pub(crate) consul: GlobalArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct OwnerArgs {
    /// How to reach the command (stored with the name, shown by whereis/ls).
    #[arg(long, value_name = "ADDRESS")]
    address: Option<String>,
    /// Metadata stored with the name; repeatable.
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
    meta: Vec<(String, String)>,
}

impl OwnerArgs {
    pub(crate) fn owner(&self) -> Contact {
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

/// The flags `consul lock` users look for.
#[derive(Debug, clap::Args)]
pub(crate) struct LockArgs {
    /// The Consul session's name, as `consul lock -name` (default: the namespace).
    #[arg(long = "name", value_name = "SESSION_NAME")]
    session_name: Option<String>,
    /// Give up waiting for the name after this long (exit code 77). Go
    /// durations: 30s, 1m30s, 1h.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) timeout: Option<Duration>,
    /// Serve GET /healthz, /status (JSON) and /metrics (Prometheus) on this
    /// address, e.g. 127.0.0.1:9090 (port 0 picks one; the address is
    /// printed on stderr).
    #[arg(long, value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ChildArgs {
    /// How long the command's processes have to exit after SIGTERM (on loss
    /// of ownership, a signal, or the command's own exit for what it left
    /// behind), before SIGKILL. Keep it below the session's lock-delay (10s
    /// by default), so the tree is gone before anyone else can own the name.
    /// Go durations: 500ms, 5s, 1m30s.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub(crate) grace: Duration,
    /// Run the command through `sh -c` (its words joined by spaces), as
    /// `consul lock -shell`.
    #[arg(long)]
    shell: bool,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

impl ChildArgs {
    /// The command line to run.
    fn argv(&self) -> Vec<OsString> {
        if !self.shell {
            return self.command.clone();
        }
        let line = self
            .command
            .iter()
            .map(|w| w.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        vec!["sh".into(), "-c".into(), line.into()]
    }
}

fn parse_meta(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

pub(crate) async fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.wait {
        return lead(
            global,
            &args.name,
            args.owner.owner(),
            &args.lock,
            &args.child,
        )
        .await;
    }
    let mut signals = Signals::new()?;
    tree::become_subreaper().context("cannot become a child subreaper")?;
    let (registry, status, mut lease) = registry(global, &args.lock, &args.name).await?;
    // A crashed holder's lock-delay leaves the name free but not yet
    // acquirable: wait it out rather than report it as taken.
    let options = RegisterOptions::new().wait_out_lock_delay();
    let registration = match registry
        .register_with(&args.name, args.owner.owner(), options)
        .await
    {
        Ok(registration) => registration,
        Err(e) if e.is_conflict() => {
            if let Some(status) = &status {
                status.standing_by(e.holder());
            }
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
    if let Some(status) = &status {
        status.held(registration.holder());
    }
    let mut guarded = match spawn(
        &registry,
        &args.child,
        &args.name,
        registration.fencing_token(),
    )
    .await
    {
        Ok(guarded) => guarded,
        Err(e) => {
            let _ = registration.unregister().await;
            let _ = registry.shutdown().await;
            return Err(e);
        }
    };
    let outcome = supervise(
        &mut guarded,
        registration.lost(),
        &mut signals,
        &mut lease,
        args.child.grace,
    )
    .await;
    report(status.as_ref(), &outcome);
    finish(&registry, &args.name, outcome, async move {
        let _ = registration.unregister().await;
    })
    .await
}

pub(crate) async fn leader(global: &GlobalArgs, args: LeaderArgs) -> anyhow::Result<ExitCode> {
    lead(
        global,
        &args.name,
        args.owner.owner(),
        &args.lock,
        &args.child,
    )
    .await
}

/// A registry for `run` or `leader`, with the session named as asked, the
/// `--http` status endpoint when asked for, and the guardian's lease: the
/// end of ownership after each renew, as `CLOCK_MONOTONIC` nanoseconds.
pub(crate) async fn registry(
    global: &GlobalArgs,
    lock: &LockArgs,
    name: &str,
) -> anyhow::Result<(Registry, Option<StatusHandle>, watch::Receiver<u64>)> {
    // Before the registry starts, so that every figure is recorded.
    let metrics = match lock.http {
        Some(_) => Some(status::install_recorder()?),
        None => None,
    };
    let (lease_tx, lease_rx) = watch::channel(0_u64);
    let renewed = move |event: &Event| {
        if let Event::Renewed { deadline_in, .. } = event {
            lease_tx.send_replace(lease::until(*deadline_in));
        }
    };
    let registry = global
        .registry_with(
            |config| {
                if let Some(name) = &lock.session_name {
                    config.session.name = Some(name.clone());
                }
            },
            renewed,
        )
        .await?;
    let status = match (lock.http, metrics) {
        (Some(addr), Some(metrics)) => match status::serve(addr, &registry, name, metrics).await {
            Ok(status) => Some(status),
            Err(e) => {
                let _ = registry.shutdown().await;
                return Err(e);
            }
        },
        _ => None,
    };
    Ok((registry, status, lease_rx))
}

/// Tells the status endpoint how the command ended.
pub(crate) fn report(status: Option<&StatusHandle>, outcome: &anyhow::Result<Outcome>) {
    if let Some(status) = status {
        status.ended(matches!(outcome, Ok(Outcome::Lost)));
    }
}

/// Competes for `name` as a singleton; runs the command while leading.
async fn lead(
    global: &GlobalArgs,
    name: &str,
    owner: Contact,
    lock: &LockArgs,
    child_args: &ChildArgs,
) -> anyhow::Result<ExitCode> {
    let mut signals = Signals::new()?;
    tree::become_subreaper().context("cannot become a child subreaper")?;
    let (registry, status, mut lease) = registry(global, lock, name).await?;
    let deadline = lock.timeout.map(|t| Instant::now() + t);
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
                if let (Some(status), Leadership::Standby { leader }) = (&status, &state) {
                    status.standing_by(leader.as_ref());
                }
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
            () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                handle.stop().await;
                let _ = registry.shutdown().await;
                eprintln!("consuela: timed out waiting for {name}");
                return Ok(ExitCode::from(EXIT_TIMEOUT));
            }
            signal = signals.recv() => {
                handle.stop().await;
                let _ = registry.shutdown().await;
                return Ok(ExitCode::from(signal_exit(signal.as_raw())));
            }
        }
    };
    let Leadership::Leader {
        fencing_token,
        since,
    } = handle.leadership()
    else {
        // Lost between winning and reading the token: never started.
        let _ = registry.shutdown().await;
        eprintln!("consuela: lost ownership of {name} before the command started");
        return Ok(ExitCode::from(EXIT_LOST));
    };
    if let Some(status) = &status {
        status.leading(fencing_token, since);
    }
    // The singleton leads on the newest session: a standby whose own
    // session was lost (say in a Consul election) went on with a new one.
    let current = registry.latest();
    let mut guarded = match spawn(&current, child_args, name, fencing_token).await {
        Ok(guarded) => guarded,
        Err(e) => {
            handle.stop().await;
            let _ = registry.shutdown().await;
            return Err(e);
        }
    };
    let lost = async move {
        let _ = gone.await;
    };
    let outcome = supervise(
        &mut guarded,
        lost,
        &mut signals,
        &mut lease,
        child_args.grace,
    )
    .await;
    report(status.as_ref(), &outcome);
    finish(&current, name, outcome, handle.stop()).await
}

/// What ended the command.
pub(crate) enum Outcome {
    /// It exited with this code.
    Exited(u8),
    /// Ownership was lost; it was stopped.
    Lost,
}

/// Releases the name (`release`) and shuts the registry down, or reports the
/// loss; turns the outcome into the exit code.
pub(crate) async fn finish(
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

/// The command under its guardian, and the control socket to it.
pub(crate) struct Guarded {
    guardian: Child,
    pid: Pid,
    control: UnixStream,
}

/// The lease the guardian starts with: the registry renewed at most one
/// interval ago, so its deadline is at least this far away.
fn first_lease(config: &Config) -> Duration {
    config
        .session
        .ttl
        .saturating_sub(config.keeper.margin)
        .saturating_sub(config.renew_interval())
}

/// How long the tree may take to stop after consuela died: well inside the
/// time the dead member's session has left (at least TTL minus one renew
/// interval after its last renew), so nothing runs when it expires.
fn orphan_grace(config: &Config, grace: Duration) -> Duration {
    let left = config.session.ttl.saturating_sub(config.renew_interval());
    grace.min(left / 2)
}

/// Starts the command under `consuela __guard` (see guard.rs), which calls
/// back on an abstract Unix socket that only this process listens on.
pub(crate) async fn spawn(
    registry: &Registry,
    args: &ChildArgs,
    name: &str,
    fencing_token: FencingToken,
) -> anyhow::Result<Guarded> {
    let control = format!(
        "consuela-guard-{}-{}",
        std::process::id(),
        consuela::Timestamp::now().unix_seconds()
    );
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(control.as_bytes())
        .context("cannot name the guardian's socket")?;
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr)
        .context("cannot listen for the guardian")?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let config = registry.config();
    let handover = Handover::new(
        config,
        registry.key(name)?,
        fencing_token,
        registry.session().clone(),
    );
    let exe = std::env::current_exe().context("cannot find the consuela executable")?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("__guard")
        .arg("--control")
        .arg(&control)
        .arg("--grace")
        .arg(format!("{}ms", args.grace.as_millis()))
        .arg("--orphan-grace")
        .arg(format!(
            "{}ms",
            orphan_grace(config, args.grace).as_millis()
        ))
        .arg("--lease-until")
        .arg(lease::until(first_lease(config)).to_string())
        .arg("--")
        .args(args.argv())
        .env("CONSUELA_NAME", name)
        .env("CONSUELA_MEMBER", registry.member())
        .env("CONSUELA_FENCING_TOKEN", fencing_token.to_string())
        .env("CONSUL_LOCK_HELD", "true")
        .env(HANDOVER_ENV, handover.encode());
    // Its own process group: a terminal's signals reach consuela only, which
    // forwards them once.
    command.as_std_mut().process_group(0);
    let mut guardian = command.spawn().context("cannot start the command")?;
    let pid = guardian
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw)
        .context("the guardian has no pid")?;
    let accepted = tokio::select! {
        accepted = timeout(GUARD_CONNECT_TIMEOUT, listener.accept()) => accepted,
        status = guardian.wait() => {
            bail!("the command's guardian ended before it started: {status:?}");
        }
    };
    let (control, _) = accepted
        .context("the command's guardian did not call back")?
        .context("cannot accept the guardian")?;
    // Only our own guardian may drive the command.
    let peer = control.peer_cred()?.pid();
    if peer != Some(pid.as_raw_nonzero().get()) {
        let _ = guardian.start_kill();
        bail!("an unknown process answered on the guardian's socket");
    }
    Ok(Guarded {
        guardian,
        pid,
        control,
    })
}

/// Waits for the command to end, forwarding signals to it through the
/// guardian, and has the guardian stop the whole tree when `lost` fires.
/// Whatever the guardian leaves behind (it was killed itself) is swept here.
pub(crate) async fn supervise(
    guarded: &mut Guarded,
    lost: impl Future<Output = ()>,
    signals: &mut Signals,
    lease: &mut watch::Receiver<u64>,
    grace: Duration,
) -> anyhow::Result<Outcome> {
    tokio::pin!(lost);
    let outcome = loop {
        tokio::select! {
            biased;
            () = &mut lost => {
                let _ = guarded.control.write_all(STOP).await;
                let _ = guarded.guardian.wait().await;
                break Outcome::Lost;
            }
            status = guarded.guardian.wait() => {
                let status = status.context("cannot wait for the command")?;
                break Outcome::Exited(exit_code(status));
            }
            signal = signals.recv() => {
                // The guardian may have just exited; the next wait says so.
                let _ = kill_process(guarded.pid, signal);
            }
            Ok(()) = lease.changed() => {
                let until = *lease.borrow_and_update();
                let _ = guarded.control.write_all(lease::message(until).as_bytes()).await;
            }
        }
    };
    // consuela is a subreaper too: if the guardian was killed, its orphans
    // are ours now, and they go before the name does.
    tree::terminate_all(grace).await;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_go_durations_or_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn the_orphan_grace_leaves_the_dead_sessions_ttl_a_margin() {
        let mut config = Config::new("n", "ns");
        // TTL 20 s renewed every 2 s: at least 18 s left when consuela dies.
        assert_eq!(
            orphan_grace(&config, Duration::from_secs(30)),
            Duration::from_secs(9)
        );
        assert_eq!(
            orphan_grace(&config, Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        config.session.ttl = Duration::from_secs(10);
        assert_eq!(
            orphan_grace(&config, Duration::from_secs(30)),
            Duration::from_millis(4500)
        );
        // The original's schedule: TTL 10 s renewed every 5 s.
        config.keeper.interval = consuela::config::Interval::Ratio(1, 2);
        assert_eq!(
            orphan_grace(&config, Duration::from_secs(30)),
            Duration::from_millis(2500)
        );
    }

    #[test]
    fn shell_mode_joins_the_words() {
        let args = ChildArgs {
            grace: Duration::from_secs(1),
            shell: true,
            command: vec!["echo".into(), "$HOME".into()],
        };
        assert_eq!(args.argv(), ["sh", "-c", "echo $HOME"]);
    }

    #[test]
    fn meta_pairs() {
        assert_eq!(parse_meta("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_meta("=x").is_err());
        assert!(parse_meta("x").is_err());
    }
}
