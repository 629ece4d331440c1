//! consuela: a distributed, consistent process registry over Consul.
//!
//! A task, actor or OS process registers under a cluster-wide unique name;
//! any member looks the name up; a name never has two live owners, even
//! across network splits, because every name is a Consul KV lock held by the
//! member's Consul session, and a member stops its processes before Consul
//! can hand their names to anyone else.
//!
//! ```no_run
//! use consuela::prelude::*;
//!
//! # async fn demo() -> Result<(), consuela::Error> {
//! let mut config = Config::new("consul0", "billing");
//! config.consul.url = Some("http://127.0.0.1:8500".into());
//! let registry = Registry::start(config).await?;
//!
//! let lease = registry.register("invoices/worker-1", Contact::at("10.0.0.5:7000")).await?;
//! println!("fencing token {}", lease.fencing_token());
//!
//! let holder = registry.whereis("invoices/worker-1").await?;
//! assert_eq!(holder.map(|h| h.id), Some(lease.id().clone()));
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
//! The crate root holds the vocabulary: [`Name`], [`Contact`] (what a
//! registering process says about itself), [`Holder`] (who holds a name, as
//! read back, and its [`Role`]), [`RegistrationId`], [`FencingToken`], [`Timestamp`], and the
//! [`Error`] with its [`ErrorKind`]. The rest is grouped by module:
//!
//! - [`registry`]: [`Registry`] (start, [`register`](Registry::register),
//!   [`spawn`](Registry::spawn), [`whereis`](Registry::whereis),
//!   [`list`](Registry::list), [`watch`](Registry::watch),
//!   [`shutdown`](Registry::shutdown)) and the [`Registration`] guard with
//!   its [`lost`](Registration::lost) signal.
//! - [`directory`]: [`Directory`], reads of who holds what without a
//!   session, and the [`RegistryWatch`](directory::RegistryWatch) stream.
//! - [`singleton`]: one member at a time runs a future.
//! - [`semaphore`]: at most N holders of a name at once
//!   ([`acquire_slot`](Registry::acquire_slot)), in the layout of Consul's
//!   Go `api.Semaphore`, so `consul lock -n` shares the slots.
//! - [`group`]: process groups ([`join`](Registry::join),
//!   [`members`](Registry::members), [`watch_group`](Registry::watch_group)).
//! - [`messaging`]: named mailboxes ([`register_mailbox`](Registry::register_mailbox),
//!   [`send`](Registry::send), [`call`](Registry::call)) reaching the owner
//!   wherever it runs, never a stale one.
//! - [`presence`] and [`discovery`]: this member as a Consul service, and the
//!   live members of a service.
//! - [`config`]: the original's sections and defaults, loadable from TOML.
//! - [`event`]: typed [`Event`](event::Event)s delivered to
//!   [`Pulse`](event::Pulse) handlers.
//! - [`prelude`]: the handful of names almost every user imports.
//!
//! # Features
//!
//! - `metrics`: records registration and renew latencies, failures, reaper
//!   queue depth and losses through the `metrics` facade
//!   (`metrics::MetricsPulse`, added to every registry).
//! - `tower`: the live members of a discovered service as a
//!   `tower::discover::Discover` stream (`discover::MemberDiscover`), for
//!   `tower::balance`.

// Vocabulary.
mod error;
mod holder;
mod name;
mod time;
mod token;

// Settings and events.
pub mod config;
mod duration;
pub mod event;
mod member;
#[cfg(feature = "metrics")]
pub mod metrics;
mod retry;

// Consul and the read model.
mod batch;
mod consul;
pub mod directory;
mod read;
mod record;
mod slot_table;
mod watch;

// Background machinery.
mod keeper;
mod reaper;

// The registry and what builds on it.
#[cfg(feature = "tower")]
pub mod discover;
pub mod discovery;
pub mod group;
pub mod messaging;
pub mod prelude;
pub mod presence;
pub mod registry;
pub mod semaphore;
pub mod singleton;

pub use config::{Config, EXIT_CODE_SESSION_LOST};
pub use consuela_client as client;
pub use directory::Directory;
pub use error::{Error, ErrorKind, LostReason, Task};
pub use holder::{Contact, Holder, RegistrationId, Role};
pub use name::{MAX_NAME_LEN, Name, NameError};
pub use record::RECORD_VERSION;
pub use registry::{RegisterOptions, Registration, Registry};
pub use time::{Timestamp, TimestampError};
pub use token::FencingToken;

/// The Consul session id type.
pub use consuela_wire::SessionId;
