//! What the coordinator knows between invocations, as its decisions need it.

use crate::coordination::status::Totals;
use crate::engine::cursor::Cursor;
use crate::engine::lease::RunLease;

/// One sync's durable state: the cursor, the run in progress, the lease, the
/// follow-up queue and the failure streak.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncState {
    pub cursor: Option<Cursor>,
    /// The run being worked on, across invocations.
    pub active_run: Option<u64>,
    /// The lease as last stored, live or lapsed (its fence still counts).
    pub lease: Option<RunLease>,
    /// A run asked for while another worked: it starts right after.
    pub follow_up: Option<FollowUp>,
    /// Failed runs since the last completed one.
    pub consecutive_failures: u32,
    pub totals: Totals,
}

/// The run a webhook asked for while another was running. Any number of asks
/// coalesce into one; a full one wins over an incremental one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowUp {
    pub full: bool,
}
