//! The crate's error type.

/// Why a dev server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Binding or inspecting the listener failed.
    #[error("dev server I/O error")]
    Io(#[from] std::io::Error),
    /// The configuration breaks a rule (see [`DevServerConfig::validate`](crate::DevServerConfig::validate)).
    #[error("invalid dev server configuration: {0}")]
    Config(String),
    /// The TLS certificate, key or client CA is unusable (the reason never quotes a key).
    #[error("invalid dev server TLS settings: {0}")]
    Tls(String),
}
