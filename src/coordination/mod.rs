//! The coordinator's decisions, as plain functions: when a run starts and
//! what it reads, what an alarm does, and how an invocation settles (what is
//! stored, when the coordinator wakes, what it logs and answers).
//!
//! The Durable Object (`crate::coordinator`) reads its state, asks these
//! functions, and carries out the answer; host tests drive the same
//! functions, so what they check is what ships.

pub mod alerts;
pub mod decide;
pub mod params;
pub mod reply;
pub mod settle;
pub mod state;
pub mod status;
pub mod syncs;
