//! The registry: one member's session and the names it holds.
//!
//! - `handle.rs`: [`Registry`], the thin handle users hold.
//! - `builder.rs`: [`RegistryBuilder`] and the start (session, keeper, reaper).
//! - `core.rs`: the state every handle, guard and task shares.
//! - `register.rs`: the register procedure; `acquire.rs`: its pure decision.
//! - `release.rs`: giving names back; `lifecycle.rs`: fail-stop, shutdown
//!   and task supervision; `state.rs`: [`State`].
//! - `local.rs`: the table of names held; `registration.rs`: the guards.
//! - `options.rs`: [`RegisterOptions`]; `health.rs`: [`Registry::health`].

mod acquire;
mod builder;
mod core;
mod handle;
mod health;
mod lifecycle;
mod local;
mod mail;
mod options;
mod register;
mod registration;
mod release;
mod state;

pub use builder::RegistryBuilder;
pub use handle::Registry;
pub use health::Health;
pub use options::RegisterOptions;
pub use registration::{Registration, SpawnHandle};
pub use state::State;
