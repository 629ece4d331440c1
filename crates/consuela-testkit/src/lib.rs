//! Test support for consuela: a dev server on port 0 (or a real Consul), a TCP fault proxy,
//! and wait helpers that never sleep-then-assert.
//!
//! # Layout
//!
//! - [`spawn_devserver`], [`spawn_devserver_with`], [`consul_target`]: where integration tests
//!   send their requests. `consul_target` honours `CONSUL_HTTP_ADDR`/`CONSUL_HTTP_TOKEN` so the
//!   same test can run against a real Consul.
//! - [`FaultProxy`]: a TCP proxy with `Pass`/`Ignore`/`Stop`/`Refuse`/`ResetResponse` modes and
//!   added latency, switchable at runtime, modelled on the Erlang original's `ct_proxy`.
//! - [`wait_until`], [`wait_for`], [`wait_watch`]: bounded waits that panic with the last
//!   observed value.
//! - [`trace_init`]: one `tracing` subscriber per test binary.
//! - [`tls`]: test certificates (a CA, server and client certificates, every key format) and
//!   scratch directories.
//! - [`safety`]: the Jepsen-style safety run (member processes, faults, history, checker).

mod devserver;
mod proxy;
pub mod safety;
pub mod tls;
mod trace;
mod wait;

pub use devserver::{ConsulTarget, consul_target, spawn_devserver, spawn_devserver_with};
pub use proxy::{FaultProxy, FaultProxyConfig, FaultProxyHandle, Latency, Mode};
pub use trace::trace_init;
pub use wait::{POLL_INTERVAL, wait_for, wait_until, wait_watch};

/// The dev server crate, re-exported so tests can name its config and handle.
pub use consuela_devserver;
