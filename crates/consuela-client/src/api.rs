//! One module per Consul endpoint group.
//!
//! Each group is a small borrowed view of the [`Client`](crate::Client), obtained with
//! `client.kv()`, `client.session()` and so on.

pub mod agent;
pub mod catalog;
pub mod health;
pub mod kv;
pub mod session;
pub mod status;
pub mod txn;

pub use agent::Agent;
pub use catalog::Catalog;
pub use health::Health;
pub use kv::Kv;
pub use session::Session;
pub use status::Status;
pub use txn::Txn;
