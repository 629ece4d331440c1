//! The history of a safety run: one JSON object per line in a file shared by every process.
//!
//! Each event is written with a single `write` on a file opened with `O_APPEND`, so lines from
//! different processes never interleave, and an event written before a SIGKILL survives it (it
//! is in the kernel's page cache). Lines are not in time order across processes: readers sort
//! by `t`, the [`clock::now_ns`](super::clock::now_ns) stamp.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One thing that happened, stamped with `t` (nanoseconds of `CLOCK_MONOTONIC`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// Harness: a member process was started.
    Started {
        /// Member label (`m<slot>.<incarnation>`).
        member: String,
        /// OS process id.
        pid: u32,
        /// Time.
        t: u64,
    },
    /// Member: a registry (and so a Consul session) started.
    Session {
        /// Member label.
        member: String,
        /// Consul session id.
        session: String,
        /// Time.
        t: u64,
    },
    /// Member: a future spawned under `name` starts running.
    Acquired {
        /// The name.
        name: String,
        /// Member label.
        member: String,
        /// Session the name is held with.
        session: String,
        /// The registration's fencing token.
        token: u64,
        /// Time.
        t: u64,
    },
    /// Member: that future has stopped (ended, aborted on loss, or the process is about to die).
    Released {
        /// The name.
        name: String,
        /// Member label.
        member: String,
        /// Session the name was held with.
        session: String,
        /// The registration's fencing token.
        token: u64,
        /// Time.
        t: u64,
    },
    /// Member: the registry fail-stopped.
    Lost {
        /// Member label.
        member: String,
        /// The lost session.
        session: String,
        /// Why (`LostReason` as text).
        reason: String,
        /// Time.
        t: u64,
    },
    /// Member: cumulative counters, written about once a second.
    Stats {
        /// Member label.
        member: String,
        /// `spawn` calls.
        attempts: u64,
        /// Successful `spawn` calls.
        acquired: u64,
        /// `AlreadyRegistered` answers.
        conflicts: u64,
        /// `LockDelay` answers.
        lock_delays: u64,
        /// Other errors.
        errors: u64,
        /// Time.
        t: u64,
    },
    /// Harness: the process was killed with SIGKILL and reaped; it runs nothing after `t`.
    Killed {
        /// Member label.
        member: String,
        /// Time (after the process was reaped).
        t: u64,
    },
    /// Harness: the process exited on its own (after SIGTERM) and was reaped.
    Exited {
        /// Member label.
        member: String,
        /// Exit code, if any.
        code: Option<i32>,
        /// Time (after the process was reaped).
        t: u64,
    },
    /// Harness: a fault was injected (or healed, with `kind` ending in `-heal`).
    Fault {
        /// What (`cut-stop`, `latency`, `pause`, ...).
        kind: String,
        /// The member it hit, if one.
        member: Option<String>,
        /// Parameters, for humans.
        detail: String,
        /// Time.
        t: u64,
    },
    /// Harness: a member's session was invalidated through the dev server, early.
    Invalidated {
        /// Member label.
        member: String,
        /// The session.
        session: String,
        /// Time (just after the dev server invalidated it).
        t: u64,
    },
    /// Harness: Consul no longer has this session (seen by polling the dev server).
    SessionGone {
        /// The session.
        session: String,
        /// Time it was first seen missing.
        t: u64,
    },
}

impl Event {
    /// The event's time stamp.
    pub fn t(&self) -> u64 {
        match self {
            Self::Started { t, .. }
            | Self::Session { t, .. }
            | Self::Acquired { t, .. }
            | Self::Released { t, .. }
            | Self::Lost { t, .. }
            | Self::Stats { t, .. }
            | Self::Killed { t, .. }
            | Self::Exited { t, .. }
            | Self::Fault { t, .. }
            | Self::Invalidated { t, .. }
            | Self::SessionGone { t, .. } => *t,
        }
    }

    /// The member the event is about, if one.
    pub fn member(&self) -> Option<&str> {
        match self {
            Self::Started { member, .. }
            | Self::Session { member, .. }
            | Self::Acquired { member, .. }
            | Self::Released { member, .. }
            | Self::Lost { member, .. }
            | Self::Stats { member, .. }
            | Self::Killed { member, .. }
            | Self::Exited { member, .. }
            | Self::Invalidated { member, .. } => Some(member),
            Self::Fault { member, .. } => member.as_deref(),
            Self::SessionGone { .. } => None,
        }
    }
}

/// Appends events to a history file; cheap to clone, safe to share between tasks.
#[derive(Debug, Clone)]
pub struct HistoryWriter {
    file: Arc<Mutex<File>>,
}

impl HistoryWriter {
    /// Opens (creating if needed) `path` for appending.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// Appends one event as one line, with one `write`.
    ///
    /// # Panics
    ///
    /// When the history cannot be written: a run whose history is incomplete proves nothing.
    pub fn record(&self, event: &Event) {
        let mut line = serde_json::to_vec(event).expect("events serialize");
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&line)
            .unwrap_or_else(|e| panic!("cannot write the history: {e}"));
    }
}

/// Reads a history file, sorted by time. Lines that do not parse are skipped and counted.
///
/// # Errors
///
/// When the file cannot be read.
pub fn read_history(path: &Path) -> io::Result<(Vec<Event>, usize)> {
    let text = std::fs::read_to_string(path)?;
    let mut bad = 0;
    let mut events: Vec<Event> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| serde_json::from_str(line).map_err(|_| bad += 1).ok())
        .collect();
    events.sort_by_key(Event::t);
    Ok((events, bad))
}
