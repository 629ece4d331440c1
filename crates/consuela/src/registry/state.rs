//! [`State`]: where a registry is in its life.

use crate::error::LostReason;

/// Where a registry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Serving.
    Running,
    /// Fail-stopped: every `lost()` fired; calls answer `SessionLost`.
    Lost(LostReason),
    /// [`Registry::shutdown`](crate::Registry::shutdown) is releasing names.
    ShuttingDown,
    /// Shut down cleanly.
    Shutdown,
}
