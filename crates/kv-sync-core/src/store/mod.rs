//! The coordinator's SQLite storage: the engine's `StateStore` (hashes,
//! checkpoints) and the coordinator's own records (cursor, lease, runs,
//! follow-ups, failed rows, totals, the cached access token).
//!
//! It speaks SQL through the `Sql` seam only, so every statement here runs
//! in host tests against rusqlite exactly as in the Durable Object. A
//! checkpoint is one transaction: all of it is stored, or none of it.
#![deny(clippy::cast_sign_loss, clippy::cast_possible_wrap)]

mod absence;
pub(crate) mod alert_queue;
mod cost;
mod failed;
mod hashes;
mod key_facts;
pub mod migrations;
mod push;
mod runs;
pub mod sql;
mod state;
mod token;

pub use failed::FailedRow;
pub use push::PushedWrite;

use sql::Sql;

/// Run history kept in SQLite; `/status` shows the newest 20 of these.
pub const RUNS_KEPT: u64 = 1_000;

/// The coordinator's storage over a SQL connection.
pub struct Store<S> {
    sql: S,
}

impl<S: Sql> Store<S> {
    pub fn new(sql: S) -> Self {
        Store { sql }
    }

    /// Brings the schema up to date (see `migrations`).
    pub fn migrate(&self, now: i64) -> Result<Vec<u32>, crate::engine::error::StoreError> {
        migrations::apply(&self.sql, now)
    }

    /// The SQL connection, for what the store does not wrap (tests read it).
    pub fn sql(&self) -> &S {
        &self.sql
    }
}
