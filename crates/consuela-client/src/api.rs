//! One module per Consul endpoint group.
//!
//! Each group is a small borrowed view of the [`Client`], obtained with
//! `client.kv()`, `client.session()` and so on. Those accessors are defined here, next to the
//! groups, so that the client's core (`client.rs`) does not depend on the endpoint modules
//! built on top of it.

pub mod agent;
pub mod catalog;
pub mod health;
pub mod kv;
pub mod session;
pub mod status;
pub mod txn;

use crate::client::Client;

pub use agent::Agent;
pub use catalog::Catalog;
pub use health::Health;
pub use kv::Kv;
pub use session::Session;
pub use status::Status;
pub use txn::Txn;

impl Client {
    /// Sessions: `/v1/session/*`.
    pub fn session(&self) -> Session<'_> {
        Session::new(self)
    }

    /// Key/value store: `/v1/kv/*`.
    pub fn kv(&self) -> Kv<'_> {
        Kv::new(self)
    }

    /// Transactions: `/v1/txn`.
    pub fn txn(&self) -> Txn<'_> {
        Txn::new(self)
    }

    /// The local agent: `/v1/agent/*`.
    pub fn agent(&self) -> Agent<'_> {
        Agent::new(self)
    }

    /// The catalog: `/v1/catalog/*`.
    pub fn catalog(&self) -> Catalog<'_> {
        Catalog::new(self)
    }

    /// Health: `/v1/health/*`.
    pub fn health(&self) -> Health<'_> {
        Health::new(self)
    }

    /// Raft status: `/v1/status/*`.
    pub fn status(&self) -> Status<'_> {
        Status::new(self)
    }
}
