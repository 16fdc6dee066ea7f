//! A run's progress: everything needed to continue it in a new invocation.
//!
//! It is stored whole with every acknowledged batch, so a crash at any point
//! resumes from the last batch KV confirmed and repeats at most the writes
//! whose acknowledgement was lost.

use serde::{Deserialize, Serialize};

use super::cursor::Cursor;
use super::key_walk::KeyWalk;
use super::kv_path::KvPath;
use super::ports::JobRef;
use super::spend::RunSpend;
use super::time::Micros;

/// What a run did with the rows it read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounters {
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_deleted: u64,
    pub rows_unchanged: u64,
    pub rows_failed: u64,
    /// Keys deleted because they left the source (reconciliation).
    #[serde(default)]
    pub rows_orphaned: u64,
    /// Rows a full run wrote (or deleted) that no incremental run could
    /// read: stamped before the cursor minus the lookback when it began.
    #[serde(default)]
    pub rows_late: u64,
}

impl std::ops::AddAssign for RunCounters {
    fn add_assign(&mut self, other: RunCounters) {
        self.rows_read += other.rows_read;
        self.rows_written += other.rows_written;
        self.rows_deleted += other.rows_deleted;
        self.rows_unchanged += other.rows_unchanged;
        self.rows_failed += other.rows_failed;
        self.rows_orphaned += other.rows_orphaned;
        self.rows_late += other.rows_late;
    }
}

/// Where the run stands inside its query job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProgress {
    pub job: JobRef,
    pub started_at: Micros,
    /// The token of the page being worked on (`None`: the first page).
    pub page_token: Option<String>,
    /// Rows of that page already handled.
    pub page_offset: u32,
    /// `rows_read` when this job started, to turn the job's `totalRows` into
    /// the run's total after a re-query.
    pub rows_before: u64,
    /// Whether the job's cost (which every later page repeats) is counted.
    #[serde(default)]
    pub costed: bool,
}

/// How a run reads and writes: what a webhook or a queued follow-up asks
/// for, and what the run then does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMode {
    /// Reads the whole source and, when done, deletes from KV the keys
    /// kv-sync wrote that the source no longer has.
    pub full: bool,
    /// Writes every value whatever the stored hashes say.
    pub rewrite: bool,
    /// Lets reconciliation delete more than the configured share of keys.
    pub allow_mass_delete: bool,
}

impl RunMode {
    /// Two asks coalesced into one run: each flag asked for is kept.
    pub fn merge(self, other: RunMode) -> RunMode {
        RunMode {
            full: self.full || other.full,
            rewrite: self.rewrite || other.rewrite,
            allow_mass_delete: self.allow_mass_delete || other.allow_mass_delete,
        }
    }
}

/// Where a full run's reconciliation stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconcile {
    /// The guards were checked and allowed deleting.
    pub cleared: bool,
    /// Orphans are visited in key order; this is the last one handled.
    pub after_key: Option<String>,
    pub done: bool,
    /// The keys held under a retired `key_prefix` are deleted.
    #[serde(default)]
    pub retired: bool,
    /// Held keys are visited in key order; the last one whose keys under
    /// the retired prefixes are deleted.
    #[serde(default)]
    pub retired_after: Option<String>,
}

/// What incremental runs read when a full run began: rows stamped at or
/// after `since` (the cursor, `cursor`, less the lookback). A row the full
/// run writes from before `since` arrived too late for any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateWindow {
    pub since: Micros,
    pub cursor: Micros,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunProgress {
    pub run_id: u64,
    /// The window's lower bound: `updated_at >= since`.
    pub since: Micros,
    pub job: Option<JobProgress>,
    /// The last row handled, in `(updated_at, key)` order.
    pub position: Option<Cursor>,
    pub counters: RunCounters,
    pub invocations: u32,
    pub bigquery_jobs: u32,
    pub total_rows: Option<u64>,
    /// Set when the last page was handled: nothing is left to read.
    pub finished: bool,
    #[serde(default)]
    pub mode: RunMode,
    /// Set when a full run's read is finished: the orphans are next.
    #[serde(default)]
    pub reconcile: Option<Reconcile>,
    /// What the run held back and why (e.g. a refused mass delete).
    #[serde(default)]
    pub warning: Option<String>,
    /// When the run's first query began: once the run completes, KV holds
    /// at least what the source held then.
    #[serde(default)]
    pub query_started_at: Option<Micros>,
    /// The digest of the result's columns, from the first page read.
    #[serde(default)]
    pub schema: Option<String>,
    /// The digest of the query every job of the run read (`None` before the
    /// first job, or when a deploy changed the query between two jobs).
    #[serde(default)]
    pub query_digest: Option<String>,
    /// Which way the run writes to KV, once chosen, and why.
    #[serde(default)]
    pub kv_path: Option<KvPath>,
    #[serde(default)]
    pub kv_path_reason: Option<String>,
    /// Why the run writes through the binding though it chose the bulk
    /// API: the API refused a request as a whole (its configuration).
    #[serde(default)]
    pub degraded: Option<String>,
    /// Bytes a row of this run's results takes, as pages arrived (sizes
    /// the next page).
    #[serde(default)]
    pub row_bytes: Option<u64>,
    /// For a full run that counts late rows: the window incremental runs
    /// read when it began.
    #[serde(default)]
    pub late: Option<LateWindow>,
    /// The lookback that would have caught every late row so far.
    #[serde(default)]
    pub late_needs: Option<Micros>,
    /// Once the run completed with late rows: what they say about the
    /// lookback, in words.
    #[serde(default)]
    pub late_warning: Option<String>,
    /// The run that began the full read this one resumes: every key marked
    /// by it or a later run was read from the source since.
    #[serde(default)]
    pub read_since_run: Option<u64>,
    /// What the run spent beyond its counters, so far.
    #[serde(default)]
    pub spend: RunSpend,
    /// A full run's read in key order and its comparison with the stored
    /// keys. `None` for an incremental run, and for a full run an older
    /// version began (it compares nothing and deletes nothing).
    #[serde(default)]
    pub walk: Option<KeyWalk>,
}

impl RunProgress {
    /// The oldest run whose marks count as read by this one.
    pub fn marks_from(&self) -> u64 {
        self.read_since_run.unwrap_or(self.run_id)
    }

    /// A run beginning `now`.
    pub fn new(run_id: u64, since: Micros, mode: RunMode, now: Micros) -> Self {
        RunProgress {
            run_id,
            since,
            job: None,
            position: None,
            counters: RunCounters::default(),
            invocations: 0,
            bigquery_jobs: 0,
            total_rows: None,
            finished: false,
            mode,
            reconcile: None,
            warning: None,
            query_started_at: None,
            schema: None,
            query_digest: None,
            kv_path: None,
            kv_path_reason: None,
            degraded: None,
            row_bytes: None,
            late: None,
            late_needs: None,
            late_warning: None,
            read_since_run: None,
            spend: RunSpend::default(),
            walk: mode.full.then(|| KeyWalk::new(now)),
        }
    }

    /// Nothing is left to do: the source is read and, for a full run, the
    /// orphans are handled.
    pub fn is_done(&self) -> bool {
        self.finished && self.reconcile.as_ref().is_none_or(|r| r.done)
    }
}
