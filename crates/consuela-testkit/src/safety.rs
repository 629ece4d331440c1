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
//! - [`SafetyConfig`], [`FaultPlan`]: what a run is configured with.
//! - [`run`]: the harness: dev server, one [`FaultProxy`](crate::FaultProxy) per member, and
//!   the timeline of faults, driving
//!   - the supervisor of the member processes (start, pause, resume, terminate, kill),
//!   - the fault injector, which switches every lasting fault on and off through one
//!     generation-guarded toggle per target, so a stale end never ends a newer fault,
//!   - the audit of Consul's state ([`PostRun`]) once the faults stop.
//! - [`SafetyReport`]: what a run found, and its summary.
//! - [`measure_early_invalidation`]: the hashicorp/consul#6793 scenario, measured.
//! - [`member`]: what a member process runs (`safety-member` binary).
//! - [`run_runners`]: the same question for `consuela run`: runner processes
//!   with forking commands under runner SIGKILLs, cuts and pauses, checked
//!   for two process trees of one name alive at once ([`RunnerConfig`],
//!   [`RunnerReport`]).
//!
//! The member processes are real OS processes (`src/bin/safety-member.rs`), each with its own
//! [`consuela::Registry`] reaching Consul through its own proxy, so that SIGSTOP, SIGKILL and a
//! cut network hit exactly one member, as they would in production.

mod audit;
mod checker;
pub mod clock;
mod config;
mod early;
mod faults;
mod harness;
pub mod history;
pub mod member;
mod report;
mod runner;
mod schedule;
mod supervisor;

pub use audit::PostRun;
pub use checker::{
    CheckReport, Interval, IntervalEnd, RunAfter, Violation, ViolationKind, check, check_limit,
};
pub use config::{FaultPlan, SafetyConfig};
pub use early::{EarlyInvalidation, EarlyInvalidationReport, measure_early_invalidation};
pub use harness::run;
pub use history::{Event, HistoryWriter, read_history};
pub use report::SafetyReport;
pub use runner::{RunnerConfig, RunnerReport, check as check_beats, run_runners};
pub use schedule::{CutMode, Fault, Schedule, ScheduleConfig, Step};

/// Errors of the harness: set-up failures, not safety violations (those are in the report).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
