//! Supervision of the member processes: starting, asking, pausing, resuming, terminating and
//! killing them, each start and end recorded in the history.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rustix::process::Signal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::{Instant, sleep, timeout};

use super::BoxError;
use super::clock::now_ns;
use super::config::SafetyConfig;
use super::history::{Event, HistoryWriter};
use super::member::{MemberArgs, MemberStatus};

/// A running member process.
#[derive(Debug)]
pub(crate) struct Proc {
    /// The member label (`m<slot>.<incarnation>` in a run), also its registry member name.
    pub(crate) label: String,
    /// Its process ID, for signals.
    pid: u32,
    /// The OS process.
    pub(crate) child: Child,
    /// Where commands go.
    stdin: ChildStdin,
    /// Where answers come from, one line each.
    stdout: Lines<BufReader<ChildStdout>>,
    /// SIGSTOPped by [`Supervisor::pause`], not yet resumed: asking it would only time out.
    paused: bool,
}

impl Proc {
    /// Sends a command and reads the answer line (not to a paused process).
    async fn ask(&mut self, command: &str) -> Option<String> {
        if self.paused {
            return None;
        }
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .ok()?;
        self.stdin.flush().await.ok()?;
        timeout(Duration::from_secs(3), self.stdout.next_line())
            .await
            .ok()?
            .ok()?
    }

    /// Asks for the member's status (`None` when paused or not answering).
    async fn status(&mut self) -> Option<MemberStatus> {
        serde_json::from_str(&self.ask("status").await?).ok()
    }

    /// Sends `signal` to the process.
    fn signal(&self, signal: Signal) {
        signal_pid(self.pid, signal);
    }
}

/// Sends `signal` to `pid`, ignoring failures (the process may be gone).
fn signal_pid(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Starts a member process and records `Started`.
pub(crate) fn spawn_member(
    program: &Path,
    prefix: &[String],
    args: &MemberArgs,
    history: &HistoryWriter,
) -> Result<Proc, BoxError> {
    let mut child = Command::new(program)
        .args(prefix)
        .args(args.to_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let pid = child.id().ok_or("the member exited at once")?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    history.record(&Event::Started {
        member: args.member.clone(),
        pid,
        t: now_ns(),
    });
    Ok(Proc {
        label: args.member.clone(),
        pid,
        child,
        stdin,
        stdout,
        paused: false,
    })
}

/// One member slot: successive incarnations of one member, all reaching Consul at one URL.
#[derive(Debug)]
struct Slot {
    /// Where this slot's members reach Consul (their own proxy).
    url: String,
    /// Incarnations started so far.
    incarnation: u32,
    /// The current incarnation, if it is up.
    proc: Option<Proc>,
}

/// The member processes of a run, one [`Slot`] each; every process is killed when this is
/// dropped.
#[derive(Debug)]
pub(crate) struct Supervisor {
    /// The member binary.
    program: PathBuf,
    /// Arguments before the member arguments.
    prefix: Vec<String>,
    /// Where starts and ends are recorded.
    history: HistoryWriter,
    /// Every member's arguments but `url`, `member`, `node` and `seed`, which depend on the
    /// slot and incarnation.
    template: MemberArgs,
    /// Per member slot.
    slots: Vec<Slot>,
}

impl Supervisor {
    /// One slot per URL, none started yet.
    pub(crate) fn new(
        config: &SafetyConfig,
        namespace: &str,
        urls: Vec<String>,
        history: HistoryWriter,
    ) -> Self {
        let template = MemberArgs {
            history: config.history.clone(),
            url: String::new(),
            member: String::new(),
            node: String::new(),
            namespace: namespace.to_owned(),
            names: config.names.clone(),
            seed: config.seed,
            ttl: config.ttl,
            lock_delay: config.lock_delay,
            hold: config.hold,
            workers: config.workers,
            // The registry's default schedule (renew every TTL/10).
            renew_fraction: 10,
            watch_session: config.watch_session,
            unsafe_ignore_deadline: config.unsafe_ignore_deadline,
            limit: config.limit,
        };
        Self {
            program: config.member_program.clone(),
            prefix: config.member_prefix.clone(),
            history,
            template,
            slots: urls
                .into_iter()
                .map(|url| Slot {
                    url,
                    incarnation: 0,
                    proc: None,
                })
                .collect(),
        }
    }

    /// The arguments of `slot`'s current incarnation, labelled `label`.
    fn member_args(&self, slot: usize, label: &str) -> MemberArgs {
        let s = &self.slots[slot];
        MemberArgs {
            url: s.url.clone(),
            member: label.to_owned(),
            node: format!("consul{}", slot % 3),
            seed: self
                .template
                .seed
                .wrapping_mul(1000)
                .wrapping_add((slot as u64) << 16 | u64::from(s.incarnation)),
            ..self.template.clone()
        }
    }

    /// Starts the next incarnation of `slot`.
    pub(crate) fn start(&mut self, slot: usize) -> Result<(), BoxError> {
        self.slots[slot].incarnation += 1;
        let label = format!("m{slot}.{}", self.slots[slot].incarnation);
        let args = self.member_args(slot, &label);
        let proc = spawn_member(&self.program, &self.prefix, &args, &self.history)?;
        self.slots[slot].proc = Some(proc);
        Ok(())
    }

    /// Waits until every member reports its registry running, or `within` passed.
    pub(crate) async fn wait_running(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        for slot in &mut self.slots {
            while Instant::now() < deadline {
                let Some(proc) = slot.proc.as_mut() else {
                    break;
                };
                if proc.status().await.is_some_and(|s| s.running) {
                    break;
                }
                sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Whether `slot` has a process.
    pub(crate) fn is_up(&self, slot: usize) -> bool {
        self.slots[slot].proc.is_some()
    }

    /// Members with a process.
    pub(crate) fn live(&self) -> usize {
        self.slots.iter().filter(|s| s.proc.is_some()).count()
    }

    /// The label of `slot`'s process, if it has one.
    pub(crate) fn label(&self, slot: usize) -> Option<String> {
        self.slots[slot].proc.as_ref().map(|p| p.label.clone())
    }

    /// The slot whose process is labelled `label`.
    pub(crate) fn slot_of(&self, label: &str) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.proc.as_ref().is_some_and(|p| p.label == label))
    }

    /// Whether `slot`'s process is stopped by [`Self::pause`].
    pub(crate) fn is_paused(&self, slot: usize) -> bool {
        self.slots[slot].proc.as_ref().is_some_and(|p| p.paused)
    }

    /// SIGSTOPs `slot`'s process, and SIGCONTs it after `for_` whatever the caller is doing
    /// then; [`Self::resume`] then only marks it running. Returns whether there was a process.
    pub(crate) fn pause(&mut self, slot: usize, for_: Duration) -> bool {
        let Some(proc) = self.slots[slot].proc.as_mut() else {
            return false;
        };
        proc.signal(Signal::STOP);
        proc.paused = true;
        // SIGCONT on time even if the control loop is busy (a graceful restart can hold it for
        // seconds): a pause stretched past TTL + lock-delay would be the harness's overlap,
        // not the registry's.
        let pid = proc.pid;
        tokio::spawn(async move {
            sleep(for_).await;
            signal_pid(pid, Signal::CONT);
        });
        true
    }

    /// SIGCONTs `slot`'s process if it is paused; returns whether it was.
    pub(crate) fn resume(&mut self, slot: usize) -> bool {
        match self.slots[slot].proc.as_mut() {
            Some(proc) if proc.paused => {
                proc.signal(Signal::CONT);
                proc.paused = false;
                true
            }
            _ => false,
        }
    }

    /// `slot`'s status, if it has a process that answers.
    pub(crate) async fn status(&mut self, slot: usize) -> Option<MemberStatus> {
        self.slots[slot].proc.as_mut()?.status().await
    }

    /// The status of every member that answers.
    pub(crate) async fn statuses(&mut self) -> Vec<MemberStatus> {
        let mut out = Vec::new();
        for slot in &mut self.slots {
            if let Some(proc) = slot.proc.as_mut()
                && let Some(status) = proc.status().await
            {
                out.push(status);
            }
        }
        out
    }

    /// Sends `command` to every member, ignoring the answers.
    pub(crate) async fn ask_all(&mut self, command: &str) {
        for slot in &mut self.slots {
            if let Some(proc) = slot.proc.as_mut() {
                let _ = proc.ask(command).await;
            }
        }
    }

    /// SIGKILLs `slot`'s process and records `Killed`.
    pub(crate) async fn kill(&mut self, slot: usize) {
        if let Some(mut proc) = self.slots[slot].proc.take() {
            let _ = proc.child.start_kill();
            let _ = proc.child.wait().await;
            self.history.record(&Event::Killed {
                member: proc.label,
                t: now_ns(),
            });
        }
    }

    /// SIGTERM, then SIGKILL if the member does not exit within a few seconds.
    pub(crate) async fn terminate(&mut self, slot: usize) {
        let Some(mut proc) = self.slots[slot].proc.take() else {
            return;
        };
        proc.signal(Signal::TERM);
        match timeout(Duration::from_secs(8), proc.child.wait()).await {
            Ok(status) => self.history.record(&Event::Exited {
                member: proc.label,
                code: status.ok().and_then(|s| s.code()),
                t: now_ns(),
            }),
            Err(_) => {
                self.slots[slot].proc = Some(proc);
                self.kill(slot).await;
            }
        }
    }

    /// [`Self::terminate`]s every member, one after another.
    pub(crate) async fn terminate_all(&mut self) {
        for slot in 0..self.slots.len() {
            self.terminate(slot).await;
        }
    }
}
