//! [`Error`]: why a named actor did not start.

/// Why [`spawn_named`](crate::spawn_named) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The name could not be registered (held by someone else, Consul
    /// unavailable, the registry stopped...).
    #[error(transparent)]
    Registry(#[from] consuela::Error),
    /// The actor did not start (its `pre_start` failed or panicked); the
    /// name was released.
    #[error("the actor did not start: {0}")]
    Spawn(#[from] ractor::SpawnErr),
}
