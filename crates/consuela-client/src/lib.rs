//! A typed async client for the subset of Consul's HTTP API that a process registry needs:
//! sessions, KV with locks, transactions, the agent's services and checks, catalog, health
//! and status, with blocking queries and an honest outcome model.
//!
//! # Outcomes
//!
//! Every call returns `Result<_, Error>`. An [`Error`] says whether the request may have been
//! applied ([`Error::outcome`]: [`Outcome::Failed`], [`Outcome::Unknown`] or, for a definite
//! refusal, [`Outcome::Done`]) and why ([`Error::kind`]). Answers that an endpoint uses as
//! normal results are values, not errors: a missing KV key is `None`, a renew of a dead
//! session is `None`, a rolled-back transaction is [`TxnOutcome::RolledBack`].
//!
//! # Layout
//!
//! - [`Client`] and [`ClientConfig`]: construction, the address (`http`, `https`, `unix`),
//!   token, basic auth, Enterprise namespace and partition, timeouts, the request hook;
//!   [`ClientConfig::from_env_with`] reads every `CONSUL_*` variable of Consul's CLI.
//! - [`TlsConfig`] and [`TlsFailure`] (`tls.rs`): CA file or directory, client certificates
//!   (PKCS#8, PKCS#1 and SEC1 keys), a server-name override, and the one-line cause of a
//!   failed handshake.
//! - [`api`]: one module per endpoint group: [`api::session`], [`api::kv`], [`api::txn`],
//!   [`api::agent`], [`api::catalog`], [`api::health`], [`api::status`].
//! - [`QueryOptions`] / [`QueryResponse`]: consistency and blocking parameters, index headers.
//! - [`watch()`]: blocking-query loops as a `Stream`.
//! - [`Error`], [`ErrorKind`], [`Outcome`]: the error model.
//! - [`RequestEvent`]: what the request hook receives (never the token).
//! - [`Transport`]: the HTTP seam, for fault injection.
//! - [`wire`]: the wire types (re-export of `consuela-wire`).
//!
//! Only this crate builds Consul URLs: keys are percent-encoded per segment, and keys that
//! Consul's HTTP mux would redirect are refused before sending.
//!
//! # Example
//!
//! ```
//! use consuela_client::wire::{Behavior, GoDuration, SessionRequest};
//! use consuela_client::{Client, ClientConfig, QueryOptions, TxnOutcome, api::txn};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let server = consuela_devserver::DevServer::bind(
//! #     consuela_devserver::DevServerConfig::default(),
//! #     "127.0.0.1:0".parse()?,
//! # )
//! # .await?;
//! # let address = server.url();
//! // `address` is e.g. "http://127.0.0.1:8500".
//! let client = Client::new(ClientConfig::new(address))?;
//! let session = client
//!     .session()
//!     .create(&SessionRequest {
//!         ttl: Some("20s".into()),
//!         behavior: Some(Behavior::Delete),
//!         lock_delay: Some(GoDuration::from_std(Duration::from_secs(10))),
//!         checks: Some(vec![]),
//!         ..SessionRequest::default()
//!     })
//!     .await?;
//!
//! // Acquire a name and learn its fencing token in one round trip.
//! let lock = txn::lock("registry/web", b"me".to_vec(), &session);
//! let token = match client.txn().execute(&[lock]).await? {
//!     TxnOutcome::Committed(results) => results[0].kv.as_ref().map(|entry| entry.modify_index),
//!     TxnOutcome::RolledBack(errors) => panic!("taken: {}", errors[0].what),
//! };
//!
//! let entry = client.kv().get("registry/web", QueryOptions::new()).await?.value;
//! assert_eq!(entry.map(|entry| entry.modify_index), token);
//! client.session().destroy(&session).await?;
//! # server.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub mod api;
mod client;
mod config;
mod error;
mod event;
mod query;
mod request;
mod tls;
mod transport;
mod watch;

pub use api::kv::{DeleteOptions, PutOptions};
pub use api::txn::{TxnFailure, TxnOutcome};
pub use client::Client;
pub use config::{BasicAuth, ClientConfig, DEFAULT_ADDRESS, RequestHook, TlsConfig, Token};
pub use error::{ConfigError, Error, ErrorKind, Outcome, TlsFailure};
pub use event::RequestEvent;
pub use query::{Consistency, DEFAULT_WAIT, MAX_WAIT, QueryOptions, QueryResponse};
pub use tls::client_config as rustls_client_config;
pub use transport::{
    HttpRequest, HttpResponse, HttpTransport, Transport, TransportError, TransportErrorKind,
};
pub use watch::{Watch, WatchConfig, watch};

/// The Consul wire types this client speaks (re-export of `consuela-wire`).
pub use consuela_wire as wire;
