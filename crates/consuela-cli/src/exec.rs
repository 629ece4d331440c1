//! `consuela __exec-child`: the tiny wrapper `run` and `leader` start their
//! command through.
//!
//! The command must die with `consuela run`, even when `consuela run` is
//! killed with SIGKILL, so that no command ever runs without its name held.
//! Linux offers that as the parent-death signal (`prctl(PR_SET_PDEATHSIG)`),
//! which must be set in the child between fork and exec. Doing it in a
//! `pre_exec` hook needs `unsafe`, forbidden in this workspace; so the child
//! is our own binary, which sets the signal through rustix's safe wrapper and
//! then replaces itself with the command (`exec` keeps the signal armed).

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use crate::exit::{EXIT_CANNOT_EXEC, EXIT_ERROR, EXIT_LOST, EXIT_NOT_FOUND};

/// Arms the parent-death signal, then executes the command.
#[derive(Debug, clap::Args)]
pub(crate) struct ExecChildArgs {
    /// The pid of the `consuela` that must outlive the command.
    #[arg(long)]
    parent: i32,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

pub(crate) fn exec_child(args: ExecChildArgs) -> ExitCode {
    use rustix::process::{Pid, Signal, getppid, set_parent_process_death_signal};

    if let Err(e) = set_parent_process_death_signal(Some(Signal::KILL)) {
        eprintln!("consuela: cannot set the parent-death signal: {e}");
        return ExitCode::from(EXIT_ERROR);
    }
    // The parent may have died between fork and prctl: then the signal will
    // never come, and we must not start the command at all.
    if getppid() != Pid::from_raw(args.parent) {
        return ExitCode::from(EXIT_LOST);
    }
    let Some((program, rest)) = args.command.split_first() else {
        return ExitCode::from(EXIT_ERROR);
    };
    // Only returns on failure.
    let error = std::process::Command::new(program).args(rest).exec();
    eprintln!(
        "consuela: cannot run {}: {error}",
        program.to_string_lossy()
    );
    if error.kind() == std::io::ErrorKind::NotFound {
        ExitCode::from(EXIT_NOT_FOUND)
    } else {
        ExitCode::from(EXIT_CANNOT_EXEC)
    }
}
