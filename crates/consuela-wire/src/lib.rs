//! Serde wire types for the subset of the Consul HTTP API that consuela uses.
//!
//! This crate does no I/O and pulls in no async runtime: both the HTTP client
//! (`consuela-client`) and the development server (`consuela-devserver`) depend on
//! it, so the server never depends on the client.
//!
//! Conventions:
//! - Field names on the wire are PascalCase, exactly as Consul spells them.
//! - Field *order* on output matches what a Consul 1.0.8 agent sends (the
//!   conformance transcripts record it), so a server built on these types is
//!   byte-compatible with old clients that are picky about it.
//! - Decoding is lenient so the same types read bodies from Consul 1.0 through
//!   1.21: unknown fields are ignored, missing fields take their defaults and
//!   `null` lists read as empty.
//! - Identifiers are newtypes ([`SessionId`], [`Index`], [`NodeName`],
//!   [`ServiceId`], [`CheckId`]), never bare strings.
//! - Durations that Consul reports as integers are [`GoDuration`] (signed
//!   nanoseconds); [`parse_go_duration`] and [`format_go_duration`] implement Go's
//!   `time.ParseDuration` and `Duration.String`.

mod agent;
mod catalog;
mod civil;
mod coordinate;
mod duration;
mod event;
mod gostr;
mod health_status;
mod ids;
mod kv;
mod serde_util;
mod session;
mod txn;

pub use agent::{
    AgentCheck, AgentConfig, AgentMember, AgentSelf, AgentService, CheckDefinition,
    ServiceRegistration,
};
pub use catalog::{CatalogNode, CatalogServiceEntry, HealthServiceEntry, NodeServices};
pub use civil::CivilTime;
pub use coordinate::{Coord, NodeCoordinate};
pub use duration::{DurationError, GoDuration, format_go_duration, parse_go_duration};
pub use event::UserEvent;
pub use gostr::go_quote;
pub use health_status::{HealthStatus, ParseHealthStatusError};
pub use ids::{CheckId, Index, NodeName, ServiceId, SessionId};
pub use kv::KvEntry;
pub use session::{
    Behavior, ParseBehaviorError, ServiceCheckRef, SessionCreateResponse, SessionEntry,
    SessionRequest,
};
pub use txn::{KvTxnOp, KvVerb, TxnError, TxnOp, TxnResponse, TxnResult};
