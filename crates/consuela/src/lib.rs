//! consuela: a distributed, consistent process registry over Consul.
//!
//! A task, actor or OS process registers under a cluster-wide unique name;
//! any member looks the name up; a name never has two live owners, even
//! across network splits, because every name is a Consul KV lock held by the
//! member's Consul session, and a member stops its processes before Consul
//! can hand their names to anyone else.
//!
//! ```no_run
//! use consuela::{Config, Owner, Registry};
//!
//! # async fn demo() -> Result<(), consuela::Error> {
//! let mut config = Config::new("consul0", "billing");
//! config.consul.url = Some("http://127.0.0.1:8500".into());
//! let registry = Registry::start(config).await?;
//!
//! let lease = registry.register("invoices/worker-1", Owner::at("10.0.0.5:7000")).await?;
//! println!("fencing token {}", lease.fencing_token());
//!
//! let owner = registry.whereis("invoices/worker-1").await?;
//! assert_eq!(owner.map(|o| o.id), Some(lease.id().clone()));
//!
//! tokio::select! {
//!     () = lease.lost() => eprintln!("lost the name: stop working"),
//!     () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
//! }
//! lease.unregister().await?;
//! registry.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - [`Registry`]: start, [`register`](Registry::register),
//!   [`spawn`](Registry::spawn), [`whereis`](Registry::whereis),
//!   [`list`](Registry::list), [`select`](Registry::select),
//!   [`shutdown`](Registry::shutdown).
//! - [`Registration`]: the guard of a held name, with its
//!   [`fencing_token`](Registration::fencing_token) and
//!   [`lost`](Registration::lost) signal.
//! - [`Config`]: the original's sections and defaults, loadable from TOML.
//! - [`event`]: typed [`Event`]s delivered to [`Pulse`] handlers.
//! - The keeper (session renewal and fail-stop) and the reaper (retrying
//!   removals whose outcome is unknown) run in the background.
//!
//! # Features
//!
//! - `metrics`: records registration and renew latencies, failures, reaper
//!   queue depth and losses through the `metrics` facade.

pub mod config;
mod directory;
mod discovery;
mod error;
pub mod event;
mod keeper;
#[cfg(feature = "metrics")]
mod metrics;
mod name;
mod presence;
mod reaper;
mod record;
mod registry;
mod retry;
mod singleton;
mod watch;

pub use config::{Config, ConfigError, Interval, OnLost};
pub use consuela_client::{Client, ClientConfig, Consistency, WatchConfig};
pub use directory::Directory;
pub use discovery::{Discovery, DiscoveryConfig, Member, Members};
pub use error::{Error, ErrorKind, LostReason};
pub use event::{Component, Event, Pulse, TracingPulse};
pub use name::{MAX_NAME_LEN, Name, NameError};
pub use presence::{MEMBER_META_KEY, Presence, PresenceCheck, PresenceConfig};
pub use record::{Owner, ProcessId, RECORD_VERSION, Registered};
pub use registry::{Registration, Registry, RegistryBuilder, SpawnHandle, State};
pub use retry::{Retry, RetryPolicy, Strategy};
pub use singleton::{Leadership, SingletonConfig, SingletonHandle, StopReason};
pub use watch::{Change, RegistryWatch};

/// The exit code of a process ended by [`OnLost::Exit`] (`EX_SOFTWARE`).
pub const EXIT_CODE_SESSION_LOST: i32 = 70;
