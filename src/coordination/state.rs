//! What the coordinator knows between invocations, as its decisions need it.

use super::decide::RunRequest;
use crate::coordination::status::Totals;
use crate::engine::cursor::Cursor;
use crate::engine::lease::RunLease;
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
    pub follow_up: Option<RunRequest>,
    /// Failed runs since the last completed one.
    pub consecutive_failures: u32,
    pub totals: Totals,
    /// When the last completed full read began.
    pub last_full_read_at: Option<Micros>,
    /// Quarantined rows: those listed, and older ones pruned from the list.
    pub failed_listed: u64,
    pub failed_pruned: u64,
}
