//! The `runs` table: run history, and the active run's checkpoint (its
//! `RunProgress` as JSON, written with its counters).

use crate::coordinator::policy::cost::RunCost;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::sql::{FromSql, Sql, SqlRow, SqlValue, ToSql};
use super::{Store, RUNS_KEPT};
use crate::coordinator::policy::decide::RunStart;
use crate::coordinator::policy::settle::{Completion, RunEnd, Settlement};
use crate::coordinator::policy::status::{RunRecord, RunStatus, Trigger};
use crate::engine::error::{RunError, StoreError};
use crate::engine::kv_path::KvPath;
use crate::engine::progress::{RunCounters, RunProgress};
use crate::engine::time::Micros;
use crate::params;

const RUN_COLUMNS: &str =
    "id, trigger, status, started_at, finished_at, invocations, bigquery_jobs, \
     total_rows, rows_read, rows_written, rows_deleted, rows_unchanged, rows_failed, error, rows_orphaned, \
     warning, full, reason, kv_path, kv_path_reason, error_class, degraded, rows_late, late_warning, spend";

/// The enum's serde name (`"alarm"`, `"completed"`, …) as text.
fn enum_to_sql<T: Serialize>(value: &T) -> SqlValue {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => SqlValue::Text(s),
        _ => SqlValue::Null,
    }
}

fn enum_from_sql<T: DeserializeOwned>(value: &SqlValue) -> Result<T, String> {
    let text = String::from_sql(value)?;
    serde_json::from_value(serde_json::Value::String(text.clone()))
        .map_err(|_| format!("unknown value {text:?}"))
}

impl ToSql for Trigger {
    fn to_sql(&self) -> SqlValue {
        enum_to_sql(self)
    }
}

impl FromSql for Trigger {
    fn from_sql(value: &SqlValue) -> Result<Self, String> {
        enum_from_sql(value)
    }
}

impl ToSql for RunStatus {
    fn to_sql(&self) -> SqlValue {
        enum_to_sql(self)
    }
}

impl FromSql for RunStatus {
    fn from_sql(value: &SqlValue) -> Result<Self, String> {
        enum_from_sql(value)
    }
}

impl ToSql for KvPath {
    fn to_sql(&self) -> SqlValue {
        enum_to_sql(self)
    }
}

impl FromSql for KvPath {
    fn from_sql(value: &SqlValue) -> Result<Self, String> {
        enum_from_sql(value)
    }
}

fn read_run(row: &SqlRow) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: row.get("id")?,
        trigger: row.get("trigger")?,
        status: row.get("status")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        invocations: row.get("invocations")?,
        bigquery_jobs: row.get("bigquery_jobs")?,
        total_rows: row.get("total_rows")?,
        counters: RunCounters {
            rows_read: row.get("rows_read")?,
            rows_written: row.get("rows_written")?,
            rows_deleted: row.get("rows_deleted")?,
            rows_unchanged: row.get("rows_unchanged")?,
            rows_failed: row.get("rows_failed")?,
            rows_orphaned: row.get("rows_orphaned")?,
            rows_late: row.get("rows_late")?,
        },
        error: row.get("error")?,
        warning: row.get("warning")?,
        full: row.get("full")?,
        reason: row.get("reason")?,
        kv_path: row.get("kv_path")?,
        kv_path_reason: row.get("kv_path_reason")?,
        error_class: row.get("error_class")?,
        degraded: row.get("degraded")?,
        late_warning: row.get("late_warning")?,
        spend: row.get_json("spend")?.unwrap_or_default(),
    })
}

/// How a run ended, as its record keeps it.
#[derive(Clone, Copy)]
struct RunEnding<'a> {
    status: RunStatus,
    at: Micros,
    error: Option<&'a RunError>,
}

fn to_json(progress: &RunProgress) -> Result<String, StoreError> {
    serde_json::to_string(progress).map_err(|e| StoreError::Storage(e.to_string()))
}

impl<S: Sql> Store<S> {
    /// Records a new active run and returns its starting progress.
    pub fn create_run(&self, start: &RunStart, now: Micros) -> Result<RunProgress, StoreError> {
        self.sql.transaction(|| {
            // The id is taken before the insert, so the run is written once,
            // its checkpoint with it (a storage row written less per run).
            let id = self.next_run_id()?;
            let progress = match &start.resume {
                // The read goes on under this run's id; the keys the earlier
                // attempts marked still count as read.
                Some(earlier) => RunProgress {
                    run_id: id,
                    mode: earlier.mode.merge(start.mode),
                    invocations: 0,
                    read_since_run: Some(earlier.marks_from()),
                    ..(**earlier).clone()
                },
                None => RunProgress {
                    late: start.late,
                    ..RunProgress::new(id, start.since, start.mode, now)
                },
            };
            self.sql.execute(
                "INSERT INTO runs (id, trigger, status, started_at, full, reason, checkpoint)
                   VALUES (?, ?, ?, ?, ?, ?, ?)",
                params![
                    id,
                    start.trigger,
                    RunStatus::Running,
                    now,
                    start.mode.full,
                    start.reason,
                    to_json(&progress)?
                ],
            )?;
            // The run takes up the suspended read it resumes; a full run
            // supersedes any.
            self.sql.execute(
                "UPDATE sync_state SET active_run_id = ?1, next_sync_at = NULL,
                   suspended_read = CASE WHEN ?2 OR ?3 THEN NULL ELSE suspended_read END
                 WHERE id = 1",
                params![id, start.mode.full, start.resume.is_some()],
            )?;
            if start.follow_up {
                self.clear_follow_up()?;
            }
            Ok(progress)
        })
    }

    pub fn progress(&self, run_id: u64) -> Result<RunProgress, StoreError> {
        let rows = self
            .sql
            .query("SELECT checkpoint FROM runs WHERE id = ?", params![run_id])?;
        let text: Option<String> = rows
            .first()
            .map(|r| r.get("checkpoint"))
            .transpose()?
            .flatten();
        let text =
            text.ok_or_else(|| StoreError::Storage(format!("run {run_id} has no checkpoint")))?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Storage(format!("run {run_id} checkpoint: {e}")))
    }

    pub fn run(&self, run_id: u64) -> Result<RunRecord, StoreError> {
        let rows = self.sql.query(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"),
            params![run_id],
        )?;
        read_run(
            rows.first()
                .ok_or_else(|| StoreError::Storage(format!("run {run_id} is not recorded")))?,
        )
    }

    /// The id the next run will get (SQLite gives a new row the largest id
    /// plus one).
    pub fn next_run_id(&self) -> Result<u64, StoreError> {
        let rows = self
            .sql
            .query("SELECT COALESCE(MAX(id), 0) + 1 AS id FROM runs", &[])?;
        rows.first()
            .ok_or_else(|| StoreError::Storage("no next run id".into()))?
            .get("id")
    }

    /// The newest runs, newest first.
    pub fn recent_runs(&self, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        self.sql
            .query(
                &format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?"),
                params![limit],
            )?
            .iter()
            .map(read_run)
            .collect()
    }

    pub(super) fn write_progress(&self, p: &RunProgress) -> Result<(), StoreError> {
        self.write_run(p, None)
    }

    /// Writes the run's counters and checkpoint, and when it `ended`, its
    /// status, end time and error (then the checkpoint is dropped): one
    /// statement, one storage row.
    fn write_run(&self, p: &RunProgress, ended: Option<RunEnding<'_>>) -> Result<(), StoreError> {
        let c = &p.counters;
        let checkpoint = match ended {
            Some(_) => None,
            None => Some(to_json(p)?),
        };
        let (status, finished_at, error, error_class) = match ended {
            Some(e) => (
                Some(e.status),
                Some(e.at),
                e.error.map(ToString::to_string),
                e.error.map(RunError::class),
            ),
            None => (None, None, None, None),
        };
        self.sql.execute(
            "UPDATE runs SET invocations = ?, bigquery_jobs = ?, total_rows = ?, rows_read = ?, rows_written = ?,
               rows_deleted = ?, rows_unchanged = ?, rows_failed = ?, rows_orphaned = ?, rows_late = ?, warning = ?,
               kv_path = ?, kv_path_reason = ?, degraded = ?, late_warning = ?, spend = ?, checkpoint = ?,
               status = COALESCE(?, status), finished_at = COALESCE(?, finished_at),
               error = COALESCE(?, error), error_class = COALESCE(?, error_class)
              WHERE id = ?",
            params![
                p.invocations,
                p.bigquery_jobs,
                p.total_rows,
                c.rows_read,
                c.rows_written,
                c.rows_deleted,
                c.rows_unchanged,
                c.rows_failed,
                c.rows_orphaned,
                c.rows_late,
                p.warning,
                p.kv_path,
                p.kv_path_reason,
                p.degraded,
                p.late_warning,
                serde_json::to_string(&p.spend).map_err(|e| StoreError::Storage(e.to_string()))?,
                checkpoint,
                status,
                finished_at,
                error,
                error_class,
                p.run_id
            ],
        )
    }

    /// Stores how an invocation of the run ended: a paused run keeps its
    /// progress and lets its lease lapse so the next invocation takes over
    /// at once; a completed or failed one is finished, with the next run
    /// scheduled at the settlement's wake time.
    pub fn record_end(
        &self,
        fence: u64,
        progress: &RunProgress,
        settled: &Settlement,
        now: Micros,
    ) -> Result<(), StoreError> {
        let finish = |error: Option<&RunError>, completion: Option<&Completion>| {
            self.sql.transaction(|| {
                let keep_streak = completion.is_some_and(|c| c.keeps_failure_streak);
                self.finish_run(fence, progress, error, keep_streak, settled.wake_at, now)?;
                if let Some(suspended) = &settled.suspend {
                    let text = serde_json::to_string(suspended)
                        .map_err(|e| StoreError::Storage(e.to_string()))?;
                    self.sql.execute(
                        "UPDATE sync_state SET suspended_read = ? WHERE id = 1",
                        params![text],
                    )?;
                }
                completion.map_or(Ok(()), |c| self.record_completion(progress, c))
            })
        };
        match &settled.end {
            RunEnd::Completed(completion) => finish(None, Some(completion)),
            RunEnd::Failed { error, .. } => finish(Some(error), None),
            RunEnd::Paused(_) => self.sql.transaction(|| {
                self.check_fence(fence)?;
                self.write_progress(progress)?;
                self.release_lease(fence, now)
            }),
            RunEnd::LeaseLost => Ok(()),
        }
    }

    /// Ends the active run: final counters, status, totals, failure streak,
    /// history pruning and the lease. Part of `record_end`'s transaction.
    fn finish_run(
        &self,
        fence: u64,
        progress: &RunProgress,
        error: Option<&RunError>,
        keep_streak: bool,
        next_sync_at: Option<Micros>,
        now: Micros,
    ) -> Result<(), StoreError> {
        let status = if error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Completed
        };
        let c = &progress.counters;
        self.check_fence(fence)?;
        let ending = RunEnding {
            status,
            at: now,
            error,
        };
        self.write_run(progress, Some(ending))?;
        self.add_run_cost(&RunCost::of(&progress.spend, &progress.counters), now)?;
        self.sql.execute(
            "UPDATE sync_state SET active_run_id = NULL, lease_expires_at = ?, next_sync_at = ?,
               consecutive_failures = CASE WHEN ? THEN consecutive_failures + 1
                 WHEN ? THEN consecutive_failures ELSE 0 END,
               total_runs = total_runs + 1, total_rows_written = total_rows_written + ?,
               total_rows_deleted = total_rows_deleted + ?, total_rows_unchanged = total_rows_unchanged + ?,
               total_rows_failed = total_rows_failed + ? WHERE id = 1",
            params![now, next_sync_at, error.is_some(), keep_streak, c.rows_written, c.rows_deleted, c.rows_unchanged, c.rows_failed],
        )?;
        self.sql.execute(
            "DELETE FROM runs WHERE id <= ?",
            params![progress.run_id.saturating_sub(RUNS_KEPT)],
        )
    }

    /// What a completed run established: freshness, the digests change
    /// detection compares, and after a full read its schedule and which
    /// failed rows still fail.
    fn record_completion(&self, progress: &RunProgress, c: &Completion) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE sync_state SET last_success_at = COALESCE(?1, last_success_at),
               schema_digest = COALESCE(?2, schema_digest), query_digest = COALESCE(?3, query_digest),
               full_read_reason = ?4 WHERE id = 1",
            params![c.success_at, c.schema_digest, c.query_digest, c.full_read_reason],
        )?;
        if !progress.mode.full {
            return Ok(());
        }
        let run_started_at: Micros = self
            .sql
            .query(
                "SELECT started_at FROM runs WHERE id = ?",
                params![progress.run_id],
            )?
            .first()
            .ok_or_else(|| StoreError::Storage(format!("run {} is not recorded", progress.run_id)))?
            .get("started_at")?;
        // A read resumed from a failed run began with that run's query.
        let started_at = progress
            .query_started_at
            .map_or(run_started_at, |q| q.min(run_started_at));
        self.sql.execute(
            "UPDATE sync_state SET last_full_read_at = ?1,
               rewrite_from_run = CASE WHEN ?3 AND rewrite_from_run <= ?2 THEN NULL ELSE rewrite_from_run END,
               retired_prefixes = CASE WHEN ?3 AND rewrite_from_run <= ?2 THEN NULL ELSE retired_prefixes END
             WHERE id = 1",
            params![started_at, progress.run_id, progress.mode.rewrite],
        )?;
        self.settle_failures_after_full_read(progress.marks_from())
    }
}
