//! The zombie reaper: removes registrations that could not be removed, or
//! whose registration outcome was unknown, retrying until Consul answers.
//!
//! The queue is strict FIFO without deduplication, as in the original: as long
//! as we do not know which attempt took effect we may discard none of them.
//! Every decision (what to try, when, when to give up) is made by the pure
//! [`ReaperState`](state::ReaperState); the task around it only does I/O and sleeps.

mod state;
mod task;

pub(crate) use state::Zombie;
pub(crate) use task::{Exit, Reaper, ReaperHandle, spawn};

#[cfg(test)]
mod tests;
