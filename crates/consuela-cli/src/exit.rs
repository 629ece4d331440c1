//! The exit codes of the `consuela` binary and the table `--help` shows.
//!
//! Below every command, which all take them from here, so the codes and the
//! table that documents them stay side by side.

/// Exit code: the name is held by someone else (`run` without `--wait`).
pub(crate) const EXIT_TAKEN: u8 = 75;
/// Exit code: ownership of the name was lost; the command was stopped.
pub(crate) const EXIT_LOST: u8 = 76;
/// Exit code: consuela itself failed (Consul unreachable, bad config, ...).
pub(crate) const EXIT_ERROR: u8 = 70;
/// Exit code: `--timeout` passed before the name could be taken.
pub(crate) const EXIT_TIMEOUT: u8 = 77;
/// Exit code: `send` did not deliver the message (stale, full, closed, no
/// mailbox, unreachable before sending).
pub(crate) const EXIT_UNDELIVERED: u8 = 74;
/// Exit code: the command line is wrong (as clap answers).
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code when the command cannot be executed (as shells answer).
pub(crate) const EXIT_CANNOT_EXEC: u8 = 126;
/// Exit code when the command is not found (as shells answer).
pub(crate) const EXIT_NOT_FOUND: u8 = 127;

/// The exit-code table shown by `--help` (a macro so that `concat!` can use it).
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0    success (run, leader: the command's own exit code is passed through;
       a command killed by signal N gives 128+N)
  1    whereis, send: the name has no owner
  2    bad command line (send: the message is not JSON, or the name invalid)
  70   consuela failed: Consul unreachable or refused, invalid configuration
  74   send: not delivered (stale token, mailbox full or closed, no mailbox,
       owner unreachable)
  75   run: the name is held by another process (without --wait)
  76   run, leader: ownership was lost; the command was stopped
  77   run --wait, leader: --timeout passed before the name was taken;
       send: no reply within --timeout, or the owner stopped answering
       after the message was sent (it may have been delivered)
  126  run, leader: the command could not be executed
  127  run, leader: the command was not found"
    };
}
pub(crate) use exit_codes;

/// The exit code a shell reports for `status`: its code, or 128+N when
/// signal N ended it.
pub(crate) fn exit_code(status: std::process::ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => signal_exit(signal),
        (None, None) => 1,
    }
}

/// A shell's exit code for "killed by `signal`".
pub(crate) fn signal_exit(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(1)
}
