//! The server's own log, in Consul's line format, fanned out to
//! `/v1/agent/monitor` streams and to `tracing`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use consuela_wire::CivilTime;
use tokio::sync::broadcast;

/// Lines a slow monitor may fall behind by before it misses some.
const BACKLOG: usize = 1024;
/// Recent lines replayed to a new monitor, as Consul's log writer keeps
/// them (its buffer is 512 lines).
const RECENT: usize = 512;

/// Consul's log levels (hashicorp/logutils), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Err,
}

impl Level {
    /// `?loglevel=` as Consul reads it: upper-cased, one of the five names.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "TRACE" => Some(Self::Trace),
            "DEBUG" => Some(Self::Debug),
            "INFO" => Some(Self::Info),
            "WARN" => Some(Self::Warn),
            "ERR" => Some(Self::Err),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Err => "ERR",
        }
    }
}

/// One formatted line and its level.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub(crate) level: Level,
    /// `2006/01/02 15:04:05 [INFO] agent: ...`, without the newline.
    pub(crate) text: Arc<str>,
}

/// The broadcast side of the log, and the recent lines at INFO and above.
#[derive(Debug)]
pub(crate) struct Log {
    tx: broadcast::Sender<Line>,
    recent: Mutex<VecDeque<Line>>,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
        }
    }
}

impl Log {
    /// Whether a line at `level` goes anywhere: INFO and above are always
    /// kept; DEBUG and TRACE only while a monitor or a `tracing` subscriber
    /// wants them. Callers on hot paths check this before formatting.
    pub(crate) fn wants(&self, level: Level) -> bool {
        level >= Level::Info
            || self.tx.receiver_count() > 0
            || tracing::enabled!(target: "consuela_devserver", tracing::Level::DEBUG)
    }

    /// Formats and sends a line, and keeps it for later monitors when it is
    /// INFO or above.
    pub(crate) fn write(&self, level: Level, msg: &str) {
        match level {
            Level::Trace | Level::Debug => tracing::debug!(target: "consuela_devserver", "{msg}"),
            Level::Info => tracing::info!(target: "consuela_devserver", "{msg}"),
            Level::Warn => tracing::warn!(target: "consuela_devserver", "{msg}"),
            Level::Err => tracing::error!(target: "consuela_devserver", "{msg}"),
        }
        let keep = level >= Level::Info;
        if !keep && self.tx.receiver_count() == 0 {
            return;
        }
        let now = CivilTime::from_system(SystemTime::now()).go_log();
        let text: Arc<str> = format!("{now} [{}] {msg}", level.as_str()).into();
        let line = Line { level, text };
        if keep {
            let mut recent = self
                .recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(line.clone());
        }
        let _ = self.tx.send(line);
    }

    /// The recent lines, then a stream of those written from now on (taken
    /// together, so no line is missed or repeated).
    pub(crate) fn subscribe(&self) -> (Vec<Line>, broadcast::Receiver<Line>) {
        let recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rx = self.tx.subscribe();
        (recent.iter().cloned().collect(), rx)
    }
}
