//! The server's own log, in Consul's line format, fanned out to
//! `/v1/agent/monitor` streams and to `tracing`.

use std::sync::Arc;
use std::time::SystemTime;

use consuela_wire::CivilTime;
use tokio::sync::broadcast;

/// Lines a slow monitor may fall behind by before it misses some.
const BACKLOG: usize = 1024;

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

/// The broadcast side of the log.
#[derive(Debug)]
pub(crate) struct Log {
    tx: broadcast::Sender<Line>,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Log {
    /// Formats and sends a line; costs one `format!` only while a monitor
    /// listens.
    pub(crate) fn write(&self, level: Level, msg: &str) {
        match level {
            Level::Trace | Level::Debug => tracing::debug!(target: "consuela_devserver", "{msg}"),
            Level::Info => tracing::info!(target: "consuela_devserver", "{msg}"),
            Level::Warn => tracing::warn!(target: "consuela_devserver", "{msg}"),
            Level::Err => tracing::error!(target: "consuela_devserver", "{msg}"),
        }
        if self.tx.receiver_count() == 0 {
            return;
        }
        let now = CivilTime::from_system(SystemTime::now()).go_log();
        let text = format!("{now} [{}] {msg}", level.as_str()).into();
        let _ = self.tx.send(Line { level, text });
    }

    /// A new stream of the lines written from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Line> {
        self.tx.subscribe()
    }
}
