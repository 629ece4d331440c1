//! `consuela __guard`: the guardian between `consuela run` (or `leader`) and
//! the command, which keeps the command's whole process tree inside the
//! name's lifetime.
//!
//! ```text
//! consuela run ──control socket──> consuela __guard  (child subreaper)
//!                                   └─ consuela __exec-child ─exec─> COMMAND  (own process group)
//!                                                                     └─ its children, grandchildren…
//! ```
//!
//! - The guardian is a child subreaper: a descendant whose parent dies (a
//!   double fork, a `setsid` daemon) is re-parented to it, so `/proc` finds
//!   the whole tree below it.
//! - When the command exits, every descendant left gets SIGTERM, then SIGKILL
//!   after `--grace`; the guardian reaps them all and exits with the
//!   command's code.
//! - `stop` on the control socket (ownership lost): the whole tree gets
//!   SIGTERM, then SIGKILL after `--grace`.
//! - End of file on the control socket: `consuela run` died (even by
//!   SIGKILL) without releasing. The tree gets SIGTERM, then SIGKILL after
//!   `--orphan-grace` (short enough for the tree to be gone well before the
//!   dead member's session can expire), and only once no descendant is
//!   alive does the guardian release the name and destroy the session (see
//!   [`Handover::release`]), so a waiter takes over at once.
//! - The lease (see `lease.rs`): consuela sends a new ownership deadline
//!   after every renew; if it runs out (consuela is stopped or stuck and can
//!   neither renew nor say `stop`), the guardian stops the tree by itself.
//! - Signals `consuela run` forwards (TERM, INT, HUP, QUIT, USR1, USR2) go
//!   to the command.

use std::ffi::OsString;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use std::time::Duration;

use rustix::process::{Pid, Signal, getpid, kill_process};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::process::Child;
use tokio::time::{sleep_until, timeout};

use crate::exit::{EXIT_ERROR, exit_code};
use crate::handover::{HANDOVER_ENV, Handover};
use crate::lease;
use crate::signals::Signals;
use crate::tree;
use consuela::config::parse_duration;

/// The message `consuela run` sends when ownership is lost.
pub(crate) const STOP: &[u8] = b"stop\n";

/// How much earlier than the lease's end the guardian acts, for the time
/// between consuela reading its clock and the guardian reading its own.
const LEASE_SLACK: Duration = Duration::from_millis(50);

/// Runs the command in a contained process tree.
#[derive(Debug, clap::Args)]
pub(crate) struct GuardArgs {
    /// The abstract Unix socket `consuela run` listens on.
    #[arg(long)]
    control: String,
    /// How long the tree has between SIGTERM and SIGKILL.
    #[arg(long, value_parser = parse_duration)]
    grace: Duration,
    /// The grace when `consuela run` died without releasing the name.
    #[arg(long, value_parser = parse_duration)]
    orphan_grace: Duration,
    /// When ownership ends unless a lease message extends it
    /// (`CLOCK_MONOTONIC` nanoseconds).
    #[arg(long)]
    lease_until: u64,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

/// What ended the guardian's watch.
enum End {
    /// The command exited with this code.
    Exited(u8),
    /// `consuela run` asked for a stop, or its lease ran out.
    Stop,
    /// `consuela run` is gone.
    Orphaned,
}

pub(crate) fn guard(args: GuardArgs) -> ExitCode {
    let handover = std::env::var(HANDOVER_ENV)
        .ok()
        .and_then(|text| Handover::decode(&text));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("consuela: the guardian cannot start its runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    // `block_on` runs on the main thread, which lives as long as the process:
    // the command's parent-death signal is tied to the thread that forked it.
    ExitCode::from(runtime.block_on(watch(args, handover)))
}

async fn watch(args: GuardArgs, handover: Option<Handover>) -> u8 {
    if let Err(e) = tree::become_subreaper() {
        eprintln!("consuela: the guardian cannot become a subreaper: {e}");
        return EXIT_ERROR;
    }
    let control = match connect(&args.control) {
        Ok(control) => control,
        Err(e) => {
            eprintln!("consuela: the guardian cannot reach consuela: {e}");
            return EXIT_ERROR;
        }
    };
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(e) => {
            eprintln!("consuela: {e}");
            return EXIT_ERROR;
        }
    };
    let mut child = match spawn(&args.command) {
        Ok(child) => child,
        Err(e) => {
            eprintln!("consuela: cannot start the command: {e}");
            return EXIT_ERROR;
        }
    };
    let Some(pid) = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw)
    else {
        return EXIT_ERROR;
    };
    let mut control = BufReader::new(control).lines();
    let mut lease_end = lease::instant(args.lease_until);
    let end = loop {
        tokio::select! {
            biased;
            line = control.next_line() => match line {
                Ok(Some(line)) if line.as_bytes() == STOP.trim_ascii_end() => break End::Stop,
                Ok(Some(line)) => {
                    if let Some(until) = lease::parse(&line) {
                        lease_end = lease_end.max(lease::instant(until));
                    }
                }
                _ => break End::Orphaned,
            },
            () = sleep_until(lease_end.checked_sub(LEASE_SLACK).unwrap_or(lease_end)) => {
                eprintln!("consuela: the guardian's lease ran out (consuela stopped renewing); stopping the command");
                break End::Stop;
            }
            status = child.wait() => {
                break End::Exited(status.map_or(EXIT_ERROR, exit_code));
            }
            signal = signals.recv() => {
                // The command may have just exited; the next wait says so.
                let _ = kill_process(pid, signal);
            }
        }
    };
    match end {
        End::Exited(code) => {
            tree::terminate_all(args.grace).await;
            code
        }
        End::Stop => {
            stop(&mut child, args.grace).await;
            crate::exit::EXIT_LOST
        }
        End::Orphaned => {
            stop(&mut child, args.orphan_grace).await;
            if !tree::descendants(getpid()).is_empty() {
                // Never hand a name over while anything of ours may run.
                return EXIT_ERROR;
            }
            if let Some(handover) = handover
                && handover.release().await
            {
                return 0;
            }
            EXIT_ERROR
        }
    }
}

/// Connects to `consuela run`'s control socket.
fn connect(name: &str) -> std::io::Result<UnixStream> {
    let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    stream.set_nonblocking(true)?;
    UnixStream::from_std(stream)
}

/// Starts the command in a process group of its own, through
/// `consuela __exec-child`, which ties it to this guardian's life.
fn spawn(command: &[OsString]) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("__exec-child")
        .arg("--parent")
        .arg(getpid().as_raw_nonzero().get().to_string())
        .arg("--")
        .args(command)
        .env_remove(HANDOVER_ENV);
    cmd.as_std_mut().process_group(0);
    cmd.spawn()
}

/// SIGTERM to the whole tree, SIGKILL after `grace`, everything reaped.
async fn stop(child: &mut Child, grace: Duration) {
    let started = tokio::time::Instant::now();
    tree::signal_all(Signal::TERM);
    if timeout(grace, child.wait()).await.is_err() {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    // The command is reaped; the rest of the tree had its SIGTERM with the
    // command's and gets what is left of the same grace.
    tree::terminate_all(grace.saturating_sub(started.elapsed())).await;
}
