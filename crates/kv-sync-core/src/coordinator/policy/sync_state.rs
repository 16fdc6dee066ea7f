//! What the coordinator knows between invocations, as its decisions need it.

use crate::coordinator::policy::lease::RunLease;
use crate::coordinator::policy::status::Totals;
use crate::engine::cursor::Cursor;
use serde::{Deserialize, Serialize};

use crate::coordinator::policy::write_settings::WriteSettings;
use crate::engine::progress::{RunMode, RunProgress};
use crate::engine::time::Micros;

/// One sync's durable state: the cursor, the run in progress, the lease, the
/// follow-up queue and the failure streak.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncState {
    pub cursor: Option<Cursor>,
    /// The run being worked on, across invocations.
    pub active_run: Option<u64>,
    /// The lease as last stored, live or lapsed (its fence still counts).
    pub lease: Option<RunLease>,
    /// A run asked for while another worked: it starts right after. Any
    /// number of asks coalesce into one.
    pub follow_up: Option<RunMode>,
    /// Failed runs since the last completed one.
    pub consecutive_failures: u32,
    pub totals: Totals,
    /// When the last completed full read began.
    pub last_full_read_at: Option<Micros>,
    /// Quarantined rows: those listed, and older ones pruned from the list.
    pub failed_listed: u64,
    pub failed_pruned: u64,
    /// When the last completed run's query began: KV holds at least what
    /// the source held then.
    pub last_success_at: Option<Micros>,
    /// When the next run is scheduled (none while one works).
    pub next_sync_at: Option<Micros>,
    /// The digest of the query at the last completed full read, and of the
    /// result's columns at the last completed run.
    pub query_digest: Option<String>,
    pub schema_digest: Option<String>,
    /// Why the next run must read the whole source, when something said so
    /// (the result's columns changed).
    pub full_read_reason: Option<String>,
    /// Which alert episodes were alerted (once per episode).
    pub alerted: AlertFlags,
    /// A run that failed part-way, for the next run of its kind to resume.
    pub suspended_read: Option<SuspendedRead>,
    /// How the values in KV were written, as last recorded.
    pub write_settings: Option<WriteSettings>,
    /// Set after a deploy changed how values are written: the first run
    /// whose completed full read rewrites them all.
    pub rewrite_from_run: Option<u64>,
    /// Prefixes the keys were written under before `key_prefix` changed:
    /// the run that rewrites every value deletes the keys under them.
    pub retired_prefixes: Vec<String>,
    /// The last full run failed: full reads are being retried.
    pub full_read_failing: bool,
    /// The last run of all was that failed full run.
    pub last_run_failed_full: bool,
}

/// A run that failed part-way: its progress (the job, the position, the run
/// that began the read) and the digest of the query it read. The next run
/// of the same kind (full or incremental) and query resumes it instead of
/// reading from the start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspendedRead {
    pub progress: RunProgress,
    pub query_digest: String,
}

/// The alert episodes under way that were alerted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertFlags {
    pub failing: bool,
    pub stale: bool,
    pub reconcile: bool,
    pub degraded: bool,
}
