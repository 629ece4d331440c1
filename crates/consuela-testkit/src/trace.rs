//! Test logging.

use std::sync::Once;

/// Installs a `tracing` subscriber once per test binary: output goes through the test writer
/// (captured per test), filtered by `RUST_LOG` (default `info`).
pub fn trace_init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        // Another crate's test support may have installed one already; that is fine.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
