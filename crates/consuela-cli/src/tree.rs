//! A process's subtree: find every descendant through `/proc`, signal them,
//! and reap them, so that nothing a command started outlives its name.
//!
//! The caller is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so a
//! descendant whose parent dies (a double fork, a `setsid` daemon) is
//! re-parented to the caller instead of init, and stays in this subtree.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions, getpid, kill_process};
use tokio::time::{Instant, sleep};

/// How often a shrinking subtree is looked at again.
const POLL: Duration = Duration::from_millis(20);

/// Makes this process a child subreaper: orphans in its subtree become its
/// children rather than init's.
///
/// # Errors
///
/// When the kernel refuses (it never does on Linux 3.4 and later).
pub(crate) fn become_subreaper() -> std::io::Result<()> {
    rustix::process::set_child_subreaper(Some(getpid())).map_err(Into::into)
}

/// Every live process below `root` (not `root` itself), read from `/proc`.
/// Zombies are left out: they are dead, only not yet reaped.
pub(crate) fn descendants(root: Pid) -> BTreeSet<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Some((ppid, state)) = stat(pid)
            && state != 'Z'
            && state != 'X'
        {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut found = BTreeSet::new();
    let mut todo = vec![root.as_raw_nonzero().get()];
    while let Some(pid) = todo.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            if found.insert(child) {
                todo.push(child);
            }
        }
    }
    found
}

/// The parent pid and state letter of `pid`, from `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(i32, char)> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The parent pid and state letter in a `/proc/<pid>/stat` line.
fn parse_stat(text: &str) -> Option<(i32, char)> {
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Sends `signal` to every descendant of this process.
pub(crate) fn signal_all(signal: Signal) -> usize {
    let all = descendants(getpid());
    for &pid in &all {
        if let Some(pid) = Pid::from_raw(pid) {
            let _ = kill_process(pid, signal);
        }
    }
    all.len()
}

/// Reaps every child that has exited, without blocking; returns how many.
pub(crate) fn reap() -> usize {
    let mut reaped = 0;
    while let Ok(Some(_)) = rustix::process::wait(WaitOptions::NOHANG) {
        reaped += 1;
    }
    reaped
}

/// Ends this process's whole subtree: SIGTERM to every descendant, SIGKILL
/// to what is left after `grace` (again to anything forked meanwhile), and
/// returns once no descendant is alive and every child is reaped.
///
/// Children known to tokio (`tokio::process::Child`) are reaped here too, so
/// wait for those first.
pub(crate) async fn terminate_all(grace: Duration) {
    if signal_all(Signal::TERM) > 0 {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            reap();
            if descendants(getpid()).is_empty() {
                break;
            }
            sleep(POLL).await;
        }
    }
    // Anything left, or forked since, gets SIGKILL until none is left.
    while signal_all(Signal::KILL) > 0 {
        reap();
        sleep(POLL).await;
    }
    reap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_parents_from_proc_even_with_odd_command_names() {
        let me = getpid().as_raw_nonzero().get();
        let (ppid, state) = stat(me).expect("own stat");
        assert_eq!(
            ppid,
            rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get())
        );
        assert!(state.is_ascii_uppercase(), "{state}");
        assert!(stat(i32::MAX).is_none());
        // A command name with spaces and parentheses, as `comm` allows.
        assert_eq!(
            parse_stat("4242 (a) (b c) S 17 4242 4242 0 -1 4194560"),
            Some((17, 'S'))
        );
        assert_eq!(parse_stat("4242 (x"), None);
    }
}
