//! A run's progress: everything needed to continue it in a new invocation.
//!
//! It is stored whole with every acknowledged batch, so a crash at any point
//! resumes from the last batch KV confirmed and repeats at most the writes
//! whose acknowledgement was lost.

use serde::{Deserialize, Serialize};

use super::cursor::Cursor;
use super::ports::JobRef;
use super::time::Micros;

/// What a run did with the rows it read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounters {
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_deleted: u64,
    pub rows_unchanged: u64,
    pub rows_failed: u64,
}

impl std::ops::AddAssign for RunCounters {
    fn add_assign(&mut self, other: RunCounters) {
        self.rows_read += other.rows_read;
        self.rows_written += other.rows_written;
        self.rows_deleted += other.rows_deleted;
        self.rows_unchanged += other.rows_unchanged;
        self.rows_failed += other.rows_failed;
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
    /// Set when the last page was handled: nothing is left to do.
    pub finished: bool,
}

impl RunProgress {
    pub fn new(run_id: u64, since: Micros) -> Self {
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
        }
    }
}
