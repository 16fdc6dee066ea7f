//! The coordinator's SQLite storage: the engine's `StateStore` and the
//! coordinator's own records (lease, runs, queue, totals).
//!
//! Durable Object SQL is synchronous, and every write made without an
//! intervening `await` commits as one unit. Each method here is therefore a
//! single synchronous block: a checkpoint, with its lease check, is atomic.

use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue as V};

use crate::bigquery::credentials::AccessToken;
use crate::engine::checkpoint::{RunCounters, RunProgress};
use crate::engine::cursor::Cursor;
use crate::engine::error::StoreError;
use crate::engine::lease::RunLease;
use crate::engine::ports::{Checkpoint, StateStore, StoredHash};
use crate::engine::record::ContentHash;
use crate::engine::status::{RunRecord, RunStatus, Totals, Trigger};
use crate::engine::time::Micros;

/// Run history kept in SQLite; `/status` shows the newest 20 of these.
const RUNS_KEPT: i64 = 1_000;

pub struct SqliteStore {
    sql: SqlStorage,
}

/// The single `sync_state` row.
#[derive(Clone, Debug, Deserialize)]
pub struct SyncState {
    pub cursor_updated_at: Option<i64>,
    pub cursor_key: Option<String>,
    pub active_run_id: Option<i64>,
    pub lease_run_id: Option<i64>,
    pub lease_fence: i64,
    pub lease_expires_at: Option<i64>,
    pub queued: i64,
    pub queued_full: i64,
    pub consecutive_failures: i64,
    pub total_runs: i64,
    pub total_rows_written: i64,
    pub total_rows_deleted: i64,
    pub total_rows_unchanged: i64,
    pub total_rows_failed: i64,
}

impl SyncState {
    pub fn cursor(&self) -> Option<Cursor> {
        Some(Cursor::new(
            self.cursor_updated_at?,
            self.cursor_key.clone()?,
        ))
    }

    /// The lease as last stored, live or lapsed (its fence still counts).
    pub fn lease(&self) -> Option<RunLease> {
        Some(RunLease {
            run_id: self.lease_run_id? as u64,
            fence: self.lease_fence as u64,
            expires_at: self.lease_expires_at?,
        })
    }

    pub fn totals(&self) -> Totals {
        Totals {
            runs: self.total_runs as u64,
            rows_written: self.total_rows_written as u64,
            rows_deleted: self.total_rows_deleted as u64,
            rows_unchanged: self.total_rows_unchanged as u64,
            rows_failed: self.total_rows_failed as u64,
        }
    }
}

#[derive(Deserialize)]
struct RunRow {
    id: i64,
    trigger: String,
    status: String,
    started_at: i64,
    finished_at: Option<i64>,
    invocations: i64,
    bigquery_jobs: i64,
    total_rows: Option<i64>,
    rows_read: i64,
    rows_written: i64,
    rows_deleted: i64,
    rows_unchanged: i64,
    rows_failed: i64,
    error: Option<String>,
    checkpoint: Option<String>,
}

impl RunRow {
    fn record(&self) -> RunRecord {
        RunRecord {
            id: self.id as u64,
            trigger: Trigger::parse(&self.trigger).unwrap_or(Trigger::Alarm),
            status: RunStatus::parse(&self.status).unwrap_or(RunStatus::Failed),
            started_at: self.started_at,
            finished_at: self.finished_at,
            invocations: self.invocations as u32,
            bigquery_jobs: self.bigquery_jobs as u32,
            total_rows: self.total_rows.map(|t| t as u64),
            counters: RunCounters {
                rows_read: self.rows_read as u64,
                rows_written: self.rows_written as u64,
                rows_deleted: self.rows_deleted as u64,
                rows_unchanged: self.rows_unchanged as u64,
                rows_failed: self.rows_failed as u64,
            },
            error: self.error.clone(),
        }
    }
}

#[derive(Deserialize)]
pub struct FailedRow {
    pub key: Option<String>,
    pub reason: String,
    pub at: i64,
}

fn storage(e: worker::Error) -> StoreError {
    StoreError::Storage(e.to_string())
}

fn int(v: i64) -> V {
    V::Integer(v)
}

fn opt_int(v: Option<i64>) -> V {
    v.map_or(V::Null, V::Integer)
}

const RUN_COLUMNS: &str = "id, trigger, status, started_at, finished_at, invocations, bigquery_jobs, \
     total_rows, rows_read, rows_written, rows_deleted, rows_unchanged, rows_failed, error, checkpoint";

impl SqliteStore {
    pub fn new(sql: SqlStorage) -> Self {
        SqliteStore { sql }
    }

    pub fn state(&self) -> Result<SyncState, StoreError> {
        self.sql
            .exec("SELECT * FROM sync_state WHERE id = 1", None)
            .and_then(|c| c.one())
            .map_err(storage)
    }

    /// Takes the run lease for `run_id` unless a live holder has it.
    pub fn acquire_lease(
        &self,
        run_id: u64,
        now: Micros,
        ttl: Micros,
    ) -> Result<Result<RunLease, RunLease>, StoreError> {
        let state = self.state()?;
        let acquired = RunLease::acquire(state.lease().as_ref(), run_id, now, ttl);
        if let Ok(lease) = &acquired {
            self.sql
                .exec(
                    "UPDATE sync_state SET lease_run_id = ?, lease_fence = ?, lease_expires_at = ? WHERE id = 1",
                    vec![int(lease.run_id as i64), int(lease.fence as i64), int(lease.expires_at)],
                )
                .map_err(storage)?;
        }
        Ok(acquired)
    }

    /// Lets the lease lapse now, if `fence` still holds it, so the next
    /// invocation takes over at once.
    pub fn release_lease(&self, fence: u64, now: Micros) -> Result<(), StoreError> {
        self.sql
            .exec(
                "UPDATE sync_state SET lease_expires_at = ? WHERE id = 1 AND lease_fence = ?",
                vec![int(now), int(fence as i64)],
            )
            .map(|_| ())
            .map_err(storage)
    }

    fn check_fence(&self, fence: u64) -> Result<(), StoreError> {
        match self.state()?.lease() {
            Some(lease) if lease.admits(fence) => Ok(()),
            _ => Err(StoreError::LeaseLost { fence }),
        }
    }

    /// Records a new active run and returns its starting progress.
    pub fn create_run(
        &self,
        trigger: Trigger,
        since: Micros,
        now: Micros,
    ) -> Result<RunProgress, StoreError> {
        self.sql
            .exec(
                "INSERT INTO runs (trigger, status, started_at) VALUES (?, 'running', ?)",
                vec![V::from(trigger.as_str()), int(now)],
            )
            .map_err(storage)?;
        let id = self
            .scalar("SELECT last_insert_rowid() AS v")?
            .ok_or_else(|| StoreError::Storage("the new run got no id".into()))?;
        let progress = RunProgress::new(id as u64, since);
        self.sql
            .exec(
                "UPDATE runs SET checkpoint = ? WHERE id = ?",
                vec![V::from(to_json(&progress)?), int(id)],
            )
            .map_err(storage)?;
        self.sql
            .exec(
                "UPDATE sync_state SET active_run_id = ? WHERE id = 1",
                vec![int(id)],
            )
            .map_err(storage)?;
        Ok(progress)
    }

    pub fn progress(&self, run_id: u64) -> Result<RunProgress, StoreError> {
        let row = self.run_row(run_id)?;
        let text = row
            .checkpoint
            .ok_or_else(|| StoreError::Storage(format!("run {run_id} has no checkpoint")))?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Storage(format!("run {run_id} checkpoint: {e}")))
    }

    fn run_row(&self, run_id: u64) -> Result<RunRow, StoreError> {
        self.sql
            .exec(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"),
                vec![int(run_id as i64)],
            )
            .and_then(|c| c.one())
            .map_err(storage)
    }

    pub fn run(&self, run_id: u64) -> Result<RunRecord, StoreError> {
        Ok(self.run_row(run_id)?.record())
    }

    /// The newest runs, newest first.
    pub fn recent_runs(&self, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        let rows: Vec<RunRow> = self
            .sql
            .exec(
                &format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?"),
                vec![int(limit as i64)],
            )
            .and_then(|c| c.to_array())
            .map_err(storage)?;
        Ok(rows.iter().map(RunRow::record).collect())
    }

    /// Stores progress outside a batch (e.g. the invocation count of an
    /// invocation that paused), fenced like a checkpoint.
    pub fn save_progress(&self, fence: u64, progress: &RunProgress) -> Result<(), StoreError> {
        self.check_fence(fence)?;
        self.write_progress(progress)
    }

    fn write_progress(&self, p: &RunProgress) -> Result<(), StoreError> {
        let c = &p.counters;
        self.sql
            .exec(
                "UPDATE runs SET invocations = ?, bigquery_jobs = ?, total_rows = ?, rows_read = ?, rows_written = ?,
                   rows_deleted = ?, rows_unchanged = ?, rows_failed = ?, checkpoint = ? WHERE id = ?",
                vec![
                    int(p.invocations as i64),
                    int(p.bigquery_jobs as i64),
                    opt_int(p.total_rows.map(|t| t as i64)),
                    int(c.rows_read as i64),
                    int(c.rows_written as i64),
                    int(c.rows_deleted as i64),
                    int(c.rows_unchanged as i64),
                    int(c.rows_failed as i64),
                    V::from(to_json(p)?),
                    int(p.run_id as i64),
                ],
            )
            .map(|_| ())
            .map_err(storage)
    }

    /// Ends the active run: final counters, status, totals, failure streak,
    /// history pruning and the lease, in one unit.
    pub fn finish_run(
        &self,
        fence: u64,
        progress: &RunProgress,
        error: Option<&str>,
        now: Micros,
    ) -> Result<(), StoreError> {
        self.check_fence(fence)?;
        self.write_progress(progress)?;
        let status = if error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Completed
        };
        let c = &progress.counters;
        let exec = |q: &str, b: Vec<V>| self.sql.exec(q, b).map(|_| ()).map_err(storage);
        exec(
            "UPDATE runs SET status = ?, finished_at = ?, error = ?, checkpoint = NULL WHERE id = ?",
            vec![V::from(status.as_str()), int(now), error.map_or(V::Null, V::from), int(progress.run_id as i64)],
        )?;
        exec(
            "UPDATE sync_state SET active_run_id = NULL, lease_expires_at = ?,
               consecutive_failures = CASE WHEN ? THEN consecutive_failures + 1 ELSE 0 END,
               total_runs = total_runs + 1, total_rows_written = total_rows_written + ?,
               total_rows_deleted = total_rows_deleted + ?, total_rows_unchanged = total_rows_unchanged + ?,
               total_rows_failed = total_rows_failed + ? WHERE id = 1",
            vec![
                int(now),
                int(error.is_some() as i64),
                int(c.rows_written as i64),
                int(c.rows_deleted as i64),
                int(c.rows_unchanged as i64),
                int(c.rows_failed as i64),
            ],
        )?;
        exec(
            "DELETE FROM runs WHERE id <= ?",
            vec![int(progress.run_id as i64 - RUNS_KEPT)],
        )
    }

    /// Asks for one follow-up run; any number of asks coalesce into one.
    pub fn queue_follow_up(&self, full: bool) -> Result<(), StoreError> {
        self.sql
            .exec(
                "UPDATE sync_state SET queued = 1, queued_full = MAX(queued_full, ?) WHERE id = 1",
                vec![int(full as i64)],
            )
            .map(|_| ())
            .map_err(storage)
    }

    /// Takes the queued follow-up, if any: `Some(full)`.
    pub fn take_follow_up(&self) -> Result<Option<bool>, StoreError> {
        let state = self.state()?;
        if state.queued == 0 {
            return Ok(None);
        }
        self.sql
            .exec(
                "UPDATE sync_state SET queued = 0, queued_full = 0 WHERE id = 1",
                None,
            )
            .map_err(storage)?;
        Ok(Some(state.queued_full != 0))
    }

    /// The one integer a query selects `AS v` (NULL is `None`).
    fn scalar(&self, query: &str) -> Result<Option<i64>, StoreError> {
        #[derive(Deserialize)]
        struct Scalar {
            v: Option<i64>,
        }
        let row: Scalar = self
            .sql
            .exec(query, None)
            .and_then(|c| c.one())
            .map_err(storage)?;
        Ok(row.v)
    }

    pub fn failed_rows(&self, limit: u32) -> Result<(u64, Vec<FailedRow>), StoreError> {
        let count = self.scalar("SELECT COUNT(*) AS v FROM failed_rows")?;
        let recent = self
            .sql
            .exec(
                "SELECT key, reason, at FROM failed_rows ORDER BY at DESC LIMIT ?",
                vec![int(limit as i64)],
            )
            .and_then(|c| c.to_array())
            .map_err(storage)?;
        Ok((count.unwrap_or(0) as u64, recent))
    }

    /// The oldest write time among stored hashes (for TTL refresh runs).
    pub fn oldest_write(&self) -> Result<Option<Micros>, StoreError> {
        self.scalar("SELECT MIN(written_at) AS v FROM key_hashes")
    }
}

impl SqliteStore {
    /// The cached access token of this service account, if any.
    pub fn cached_token(&self, client_email: &str) -> Result<Option<AccessToken>, StoreError> {
        let rows: Vec<AccessToken> = self
            .sql
            .exec(
                "SELECT token, expires_at FROM access_token WHERE id = 1 AND client_email = ?",
                vec![V::from(client_email)],
            )
            .and_then(|c| c.to_array())
            .map_err(storage)?;
        Ok(rows.into_iter().next())
    }

    pub fn save_token(&self, client_email: &str, token: &AccessToken) -> Result<(), StoreError> {
        self.sql
            .exec(
                "INSERT INTO access_token (id, client_email, token, expires_at) VALUES (1, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET client_email = excluded.client_email,
                   token = excluded.token, expires_at = excluded.expires_at",
                vec![
                    V::from(client_email),
                    V::from(token.token.as_str()),
                    int(token.expires_at),
                ],
            )
            .map(|_| ())
            .map_err(storage)
    }
}

fn to_json(progress: &RunProgress) -> Result<String, StoreError> {
    serde_json::to_string(progress).map_err(|e| StoreError::Storage(e.to_string()))
}

/// Implemented on a shared reference: the store holds no state of its own
/// (SQLite does), so the coordinator lends the engine the one it has.
impl StateStore for &SqliteStore {
    fn stored_hashes(&self, keys: &[&str]) -> Result<Vec<Option<StoredHash>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        #[derive(Deserialize)]
        struct Row {
            key: String,
            hash: String,
            written_at: i64,
        }
        // One statement for the whole batch: the keys travel as one JSON
        // array parameter (Durable Object SQL caps bound parameters at 100).
        let keys_json =
            serde_json::to_string(keys).map_err(|e| StoreError::Storage(e.to_string()))?;
        let rows: Vec<Row> = self
            .sql
            .exec(
                "SELECT h.key, h.hash, h.written_at FROM json_each(?) AS k JOIN key_hashes AS h ON h.key = k.value",
                vec![V::from(keys_json)],
            )
            .and_then(|c| c.to_array())
            .map_err(storage)?;
        let mut found: std::collections::HashMap<String, StoredHash> = rows
            .into_iter()
            .filter_map(|r| {
                let hash = ContentHash::from_hex(&r.hash)?;
                Some((
                    r.key,
                    StoredHash {
                        hash,
                        written_at: r.written_at,
                    },
                ))
            })
            .collect();
        Ok(keys.iter().map(|k| found.remove(*k)).collect())
    }

    fn commit(&mut self, c: Checkpoint<'_>) -> Result<(), StoreError> {
        self.check_fence(c.fence)?;
        let exec = |q: &str, b: Vec<V>| self.sql.exec(q, b).map(|_| ()).map_err(storage);
        exec(
            "UPDATE sync_state SET lease_expires_at = ? WHERE id = 1",
            vec![int(c.lease_expires_at)],
        )?;
        self.write_progress(c.progress)?;
        if let Some(p) = &c.progress.position {
            exec(
                "UPDATE sync_state SET cursor_updated_at = ?, cursor_key = ? WHERE id = 1 AND (cursor_updated_at IS NULL
                   OR cursor_updated_at < ? OR (cursor_updated_at = ? AND cursor_key < ?))",
                vec![int(p.updated_at), V::from(p.key.as_str()), int(p.updated_at), int(p.updated_at), V::from(p.key.as_str())],
            )?;
        }
        if !c.written.is_empty() {
            let rows: Vec<(&str, String, i64)> = c
                .written
                .iter()
                .map(|w| (w.key.as_str(), w.hash.to_hex(), w.written_at))
                .collect();
            let json =
                serde_json::to_string(&rows).map_err(|e| StoreError::Storage(e.to_string()))?;
            exec(
                "INSERT INTO key_hashes (key, hash, written_at)
                   SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
                   FROM json_each(?1) WHERE true
                 ON CONFLICT (key) DO UPDATE SET hash = excluded.hash, written_at = excluded.written_at",
                vec![V::from(json.clone())],
            )?;
            exec(
                "DELETE FROM failed_rows WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?))",
                vec![V::from(json)],
            )?;
        }
        for q in c.quarantined {
            exec(
                "INSERT INTO failed_rows (id, key, reason, at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET reason = excluded.reason, at = excluded.at",
                vec![
                    V::from(q.identity()),
                    q.key.as_deref().map_or(V::Null, V::from),
                    V::from(q.reason.as_str()),
                    int(c.now),
                ],
            )?;
        }
        Ok(())
    }
}
