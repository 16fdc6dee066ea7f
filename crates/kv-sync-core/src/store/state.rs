//! The single `sync_state` row: cursor, lease, follow-up queue, failure
//! streak and totals.

use super::sql::{Sql, SqlRow};
use super::Store;
use crate::coordinator::policy::lease::RunLease;
use crate::coordinator::policy::status::Totals;
use crate::coordinator::policy::sync_state::{AlertFlags, SyncState};
use crate::coordinator::policy::write_settings::WriteSettings;
use crate::engine::cursor::Cursor;
use crate::engine::error::StoreError;
use crate::engine::progress::RunMode;
use crate::engine::time::Micros;
use crate::params;

const STATE_COLUMNS: &str =
    "cursor_updated_at, cursor_key, active_run_id, lease_run_id, lease_fence, \
     lease_expires_at, queued, queued_full, consecutive_failures, total_runs, total_rows_written, \
     total_rows_deleted, total_rows_unchanged, total_rows_failed, queued_rewrite, queued_mass_delete, \
     last_full_read_at, failed_count, failed_pruned, last_success_at, next_sync_at, query_digest, \
     schema_digest, full_read_reason, alerted_failing, alerted_stale, alerted_reconcile, \
     alerted_degraded, \
     suspended_read, write_settings, rewrite_from_run, retired_prefixes, \
     (SELECT status = 'failed' FROM runs WHERE full ORDER BY id DESC LIMIT 1) AS full_read_failing, \
     (SELECT status = 'failed' AND full FROM runs ORDER BY id DESC LIMIT 1) AS last_run_failed_full";

fn read_cursor(row: &SqlRow) -> Result<Option<Cursor>, StoreError> {
    Ok(
        match (
            row.get("cursor_updated_at")?,
            row.get::<Option<String>>("cursor_key")?,
        ) {
            (Some(at), Some(key)) => Some(Cursor::new(at, key)),
            _ => None,
        },
    )
}

fn read_lease(row: &SqlRow) -> Result<Option<RunLease>, StoreError> {
    Ok(
        match (row.get("lease_run_id")?, row.get("lease_expires_at")?) {
            (Some(run_id), Some(expires_at)) => Some(RunLease {
                run_id,
                fence: row.get("lease_fence")?,
                expires_at,
            }),
            _ => None,
        },
    )
}

fn read_follow_up(row: &SqlRow) -> Result<Option<RunMode>, StoreError> {
    if !row.get::<bool>("queued")? {
        return Ok(None);
    }
    Ok(Some(RunMode {
        full: row.get("queued_full")?,
        rewrite: row.get("queued_rewrite")?,
        allow_mass_delete: row.get("queued_mass_delete")?,
    }))
}

fn read_state(row: &SqlRow) -> Result<SyncState, StoreError> {
    Ok(SyncState {
        cursor: read_cursor(row)?,
        active_run: row.get("active_run_id")?,
        lease: read_lease(row)?,
        follow_up: read_follow_up(row)?,
        suspended_read: row.get_json("suspended_read")?,
        write_settings: row.get_json("write_settings")?,
        rewrite_from_run: row.get("rewrite_from_run")?,
        retired_prefixes: row.get_json("retired_prefixes")?.unwrap_or_default(),
        full_read_failing: row
            .get::<Option<bool>>("full_read_failing")?
            .unwrap_or(false),
        last_run_failed_full: row
            .get::<Option<bool>>("last_run_failed_full")?
            .unwrap_or(false),
        consecutive_failures: row.get("consecutive_failures")?,
        totals: Totals {
            runs: row.get("total_runs")?,
            rows_written: row.get("total_rows_written")?,
            rows_deleted: row.get("total_rows_deleted")?,
            rows_unchanged: row.get("total_rows_unchanged")?,
            rows_failed: row.get("total_rows_failed")?,
        },
        last_full_read_at: row.get("last_full_read_at")?,
        failed_listed: row.get("failed_count")?,
        failed_pruned: row.get("failed_pruned")?,
        last_success_at: row.get("last_success_at")?,
        next_sync_at: row.get("next_sync_at")?,
        query_digest: row.get("query_digest")?,
        schema_digest: row.get("schema_digest")?,
        full_read_reason: row.get("full_read_reason")?,
        alerted: AlertFlags {
            failing: row.get("alerted_failing")?,
            stale: row.get("alerted_stale")?,
            reconcile: row.get("alerted_reconcile")?,
            degraded: row.get("alerted_degraded")?,
        },
    })
}

impl<S: Sql> Store<S> {
    pub fn state(&self) -> Result<SyncState, StoreError> {
        let rows = self.sql.query(
            &format!("SELECT {STATE_COLUMNS} FROM sync_state WHERE id = 1"),
            &[],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Storage("the sync_state row is missing".into()))?;
        read_state(row)
    }

    /// Takes the run lease for `run_id` unless a live holder has it (then
    /// that holder is returned).
    pub fn acquire_lease(
        &self,
        run_id: u64,
        now: Micros,
        ttl: Micros,
    ) -> Result<Result<RunLease, RunLease>, StoreError> {
        self.sql.transaction(|| {
            let acquired = RunLease::acquire(self.state()?.lease.as_ref(), run_id, now, ttl);
            if let Ok(lease) = &acquired {
                self.sql.execute(
                    "UPDATE sync_state SET lease_run_id = ?, lease_fence = ?, lease_expires_at = ? WHERE id = 1",
                    params![lease.run_id, lease.fence, lease.expires_at],
                )?;
            }
            Ok(acquired)
        })
    }

    /// Lets the lease lapse now, if `fence` still holds it, so the next
    /// invocation takes over at once.
    pub fn release_lease(&self, fence: u64, now: Micros) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE sync_state SET lease_expires_at = ? WHERE id = 1 AND lease_fence = ?",
            params![now, fence],
        )
    }

    /// Fails with `LeaseLost` unless `fence` still holds the lease.
    pub(super) fn check_fence(&self, fence: u64) -> Result<(), StoreError> {
        match self.state()?.lease {
            Some(lease) if lease.is_held_by(fence) => Ok(()),
            _ => Err(StoreError::LeaseLost { fence }),
        }
    }

    /// Asks for one follow-up run (already merged with any queued one).
    pub fn queue_follow_up(&self, request: RunMode) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE sync_state SET queued = 1, queued_full = ?, queued_rewrite = ?, queued_mass_delete = ?
              WHERE id = 1",
            params![request.full, request.rewrite, request.allow_mass_delete],
        )
    }

    /// Clears the follow-up queue (its run is starting).
    pub(super) fn clear_follow_up(&self) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE sync_state SET queued = 0, queued_full = 0, queued_rewrite = 0, queued_mass_delete = 0
              WHERE id = 1",
            &[],
        )
    }

    /// Moves the global cursor to `position` unless it is already later:
    /// progress never moves backward.
    pub(super) fn advance_cursor(&self, position: &Cursor) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE sync_state SET cursor_updated_at = ?1, cursor_key = ?2 WHERE id = 1 AND (cursor_updated_at IS NULL
               OR cursor_updated_at < ?1 OR (cursor_updated_at = ?1 AND cursor_key < ?2))",
            params![position.updated_at, position.key],
        )
    }
}

impl<S: Sql> Store<S> {
    /// The sync this coordinator serves, once a request has said so.
    pub fn sync_name(&self) -> Result<Option<String>, StoreError> {
        let rows = self
            .sql
            .query("SELECT sync_name FROM sync_state WHERE id = 1", &[])?;
        Ok(rows
            .first()
            .map(|r| r.get("sync_name"))
            .transpose()?
            .flatten())
    }

    /// Records how values are written now; with `rewrite`, why every value
    /// must be written again, from the next run on, and the prefixes whose
    /// keys that run deletes (`retired`, kept until it completes).
    pub fn note_write_settings(
        &self,
        settings: &WriteSettings,
        rewrite: Option<&str>,
        retired: &[String],
    ) -> Result<(), StoreError> {
        let text =
            serde_json::to_string(settings).map_err(|e| StoreError::Storage(e.to_string()))?;
        let retired = (!retired.is_empty())
            .then(|| serde_json::to_string(retired))
            .transpose()
            .map_err(|e| StoreError::Storage(e.to_string()))?;
        self.sql.execute(
            "UPDATE sync_state SET write_settings = ?1,
               full_read_reason = COALESCE(?2, full_read_reason),
               rewrite_from_run = CASE WHEN ?2 IS NULL THEN rewrite_from_run
                 ELSE (SELECT COALESCE(MAX(id), 0) + 1 FROM runs) END,
               retired_prefixes = ?3
             WHERE id = 1",
            params![text, rewrite, retired],
        )
    }

    /// The prefixes whose keys run `run_id` deletes once it has read the
    /// whole source: those retired before it began, if it rewrites
    /// every value under the new prefix.
    pub fn retired_prefixes(&self, run_id: u64) -> Result<Vec<String>, StoreError> {
        let rows = self.sql.query(
            "SELECT retired_prefixes FROM sync_state WHERE id = 1 AND rewrite_from_run <= ?",
            params![run_id],
        )?;
        Ok(match rows.first() {
            Some(row) => row.get_json("retired_prefixes")?.unwrap_or_default(),
            None => Vec::new(),
        })
    }

    /// Moves the next scheduled run to `at`.
    pub fn reschedule(&self, at: Micros) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE sync_state SET next_sync_at = ? WHERE id = 1",
            params![at],
        )
    }

    pub fn set_sync_name(&self, name: &str) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE sync_state SET sync_name = ? WHERE id = 1",
            params![name],
        )
    }

    /// When this sync's recent KV bulk API requests were sent.
    pub fn bulk_requests(&self) -> Result<Vec<Micros>, StoreError> {
        let rows = self
            .sql
            .query("SELECT bulk_requests FROM sync_state WHERE id = 1", &[])?;
        let text: Option<String> = rows
            .first()
            .map(|r| r.get("bulk_requests"))
            .transpose()?
            .flatten();
        Ok(text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    pub fn save_bulk_requests(&self, sent: &[Micros]) -> Result<(), StoreError> {
        let text = serde_json::to_string(sent).map_err(|e| StoreError::Storage(e.to_string()))?;
        self.sql.execute(
            "UPDATE sync_state SET bulk_requests = ? WHERE id = 1",
            params![text],
        )
    }
}
