//! A Jepsen-style safety run of the registry: member processes contending for a few names under
//! random faults, a shared history of who believed it owned which name when, and a checker that
//! fails on any overlap.
//!
//! # Layout
//!
//! - [`clock`]: the machine-wide monotonic clock every process stamps its events with.
//! - [`history`]: the [`Event`]s of a run, appended as JSON lines to one shared file.
//! - [`check`]: the checker: one owner per name, fencing tokens increase, killed members stop.
//! - [`Schedule`]: a random but seed-reproducible fault schedule.
//! - [`run`]: the harness: dev server, one [`FaultProxy`](crate::FaultProxy) per member, member
//!   processes, faults, post-run checks of Consul's state.
//! - [`measure_early_invalidation`]: the hashicorp/consul#6793 scenario, measured.
//! - [`member`]: what a member process runs (`safety-member` binary).
//!
//! The member processes are real OS processes (`src/bin/safety-member.rs`), each with its own
//! [`consuela::Registry`] reaching Consul through its own proxy, so that SIGSTOP, SIGKILL and a
//! cut network hit exactly one member, as they would in production.

mod checker;
pub mod clock;
mod early;
mod harness;
pub mod history;
pub mod member;
mod schedule;

pub use checker::{CheckReport, Interval, IntervalEnd, RunAfter, Violation, ViolationKind, check};
pub use early::{EarlyInvalidation, EarlyInvalidationReport, measure_early_invalidation};
pub use harness::{FaultPlan, PostRun, SafetyConfig, SafetyReport, run};
pub use history::{Event, HistoryWriter, read_history};
pub use schedule::{CutMode, Fault, Schedule, ScheduleConfig, Step};

/// Errors of the harness: set-up failures, not safety violations (those are in the report).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
