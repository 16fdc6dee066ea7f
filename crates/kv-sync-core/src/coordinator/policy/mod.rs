//! The coordinator's decisions, as plain functions: when a run starts and
//! what it reads, what an alarm does, and how an invocation settles (what is
//! stored, when the coordinator wakes, what it logs and answers).
//!
//! The `Coordinator` reads its state, asks these functions, and carries out
//! the answer; they are tested one by one here, and in sequence through the
//! coordinator itself in the host tests.

pub(crate) mod alerting;
pub mod cost;
pub mod decide;
pub mod explanation;
pub(crate) mod lease;
pub mod params;
pub mod reply;
pub(crate) mod schedule;
pub mod settle;
pub mod status;
pub mod sync_state;
pub mod write_settings;
