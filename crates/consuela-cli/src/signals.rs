//! The signals `run`, `leader` and the guardian pass on to the command.

use anyhow::Context;
use rustix::process::Signal;
use tokio::signal::unix::{SignalKind, signal};

/// The signals forwarded to the command: TERM, INT, HUP, QUIT, USR1, USR2.
pub(crate) struct Signals {
    streams: Vec<(tokio::signal::unix::Signal, Signal)>,
}

impl Signals {
    /// Starts catching the forwarded signals.
    ///
    /// # Errors
    ///
    /// When a handler cannot be installed.
    pub(crate) fn new() -> anyhow::Result<Self> {
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
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a signal not yet returned stays pending.
    pub(crate) async fn recv(&mut self) -> Signal {
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
