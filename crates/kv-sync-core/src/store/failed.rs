//! The `failed_rows` table: quarantined rows, one per identity (a fixed row
//! removes its entry). It lists the newest `FAILED_ROWS_KEPT`; older ones
//! keep only their identity (`failed_pruned_rows`), so a pruned row read
//! again is the same failed row, counted once. The counters in `sync_state`
//! keep the count right, so `/status` never counts rows.

use super::sql::{json_arrays, Sql};
use super::Store;
use crate::engine::error::StoreError;
use crate::engine::record::Quarantined;
use crate::engine::time::Micros;
use crate::params;

/// Failed rows listed at most; older ones are pruned and only counted.
pub(super) const FAILED_ROWS_KEPT: u64 = 10_000;

/// A quarantined row as `/status` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedRow {
    pub key: Option<String>,
    pub reason: String,
    pub at: Micros,
}

impl<S: Sql> Store<S> {
    /// Records quarantined rows (new ones counted), then prunes the oldest
    /// beyond `FAILED_ROWS_KEPT`. Part of a checkpoint's transaction.
    pub(super) fn record_failures(
        &self,
        rows: &[Quarantined],
        run: u64,
        now: Micros,
    ) -> Result<(), StoreError> {
        let entries: Vec<(String, Option<&str>, &str)> = rows
            .iter()
            .map(|q| (q.identity(), q.key.as_deref(), q.reason.as_str()))
            .collect();
        for array in json_arrays(&entries)? {
            // New identities are listed and counted; pruned ones are listed
            // again and move from the pruned count to the listed one.
            self.sql.execute(
                "UPDATE sync_state SET failed_count = failed_count + (
                   SELECT COUNT(DISTINCT json_extract(j.value, '$[0]')) FROM json_each(?1) AS j
                    WHERE NOT EXISTS (SELECT 1 FROM failed_rows WHERE id = json_extract(j.value, '$[0]'))),
                   failed_pruned = failed_pruned - (
                   SELECT COUNT(*) FROM failed_pruned_rows
                    WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?1)))
                  WHERE id = 1",
                params![array],
            )?;
            self.sql.execute(
                "DELETE FROM failed_pruned_rows WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?))",
                params![array],
            )?;
            self.sql.execute(
                "INSERT INTO failed_rows (id, key, reason, at, run)
                   SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), ?2, ?3
                   FROM json_each(?1) WHERE true
                 ON CONFLICT (id) DO UPDATE SET key = excluded.key, reason = excluded.reason, at = excluded.at,
                   run = excluded.run",
                params![array, now, run],
            )?;
        }
        if !rows.is_empty() {
            self.prune_failures()?;
        }
        Ok(())
    }

    fn prune_failures(&self) -> Result<(), StoreError> {
        let listed: u64 = self
            .sql
            .query("SELECT failed_count FROM sync_state WHERE id = 1", &[])?[0]
            .get("failed_count")?;
        let excess = listed.saturating_sub(FAILED_ROWS_KEPT);
        if excess == 0 {
            return Ok(());
        }
        self.sql.execute(
            "INSERT INTO failed_pruned_rows (id, at, run)
               SELECT id, at, run FROM failed_rows ORDER BY at, id LIMIT ?",
            params![excess],
        )?;
        self.sql.execute(
            "DELETE FROM failed_rows WHERE id IN (SELECT id FROM failed_rows ORDER BY at, id LIMIT ?)",
            params![excess],
        )?;
        self.sql.execute(
            "UPDATE sync_state SET failed_count = failed_count - ?1, failed_pruned = failed_pruned + ?1 WHERE id = 1",
            params![excess],
        )
    }

    /// Written keys are no longer failed rows.
    pub(super) fn clear_failures(&self, written_json: &str) -> Result<(), StoreError> {
        self.sql.execute(
            "UPDATE sync_state SET failed_count = failed_count - (
               SELECT COUNT(*) FROM failed_rows WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?1))),
               failed_pruned = failed_pruned - (
               SELECT COUNT(*) FROM failed_pruned_rows WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?1)))
              WHERE id = 1",
            params![written_json],
        )?;
        self.sql.execute(
            "DELETE FROM failed_rows WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?))",
            params![written_json],
        )?;
        self.sql.execute(
            "DELETE FROM failed_pruned_rows WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?))",
            params![written_json],
        )
    }

    /// After a completed full read whose first run was `read_from`: every
    /// row still failing was quarantined again by it (or a later run), so
    /// older entries (fixed, or gone from the source) are dropped, listed
    /// or pruned, and the pruned ones are counted afresh.
    pub(super) fn settle_failures_after_full_read(&self, read_from: u64) -> Result<(), StoreError> {
        const OLDER: &str = "run IS NULL OR run < ?1";
        self.sql.execute(
            &format!(
                "UPDATE sync_state SET failed_count = failed_count - (SELECT COUNT(*) FROM failed_rows WHERE {OLDER})
                  WHERE id = 1"
            ),
            params![read_from],
        )?;
        self.sql.execute(
            &format!("DELETE FROM failed_rows WHERE {OLDER}"),
            params![read_from],
        )?;
        self.sql.execute(
            &format!("DELETE FROM failed_pruned_rows WHERE {OLDER}"),
            params![read_from],
        )?;
        self.sql.execute(
            "UPDATE sync_state SET failed_pruned = (SELECT COUNT(*) FROM failed_pruned_rows) WHERE id = 1",
            &[],
        )
    }

    /// The newest `limit` quarantined rows (the count is in `SyncState`).
    /// Rows without a key cannot be told apart: the newest of them stands
    /// for all, and the rest of the list names rows one can look up.
    pub fn recent_failures(&self, limit: u32) -> Result<Vec<FailedRow>, StoreError> {
        self.sql
            .query(
                "SELECT key, reason, at FROM failed_rows
                  WHERE key IS NOT NULL
                     OR id = (SELECT id FROM failed_rows WHERE key IS NULL ORDER BY at DESC LIMIT 1)
                  ORDER BY at DESC LIMIT ?",
                params![limit],
            )?
            .iter()
            .map(|row| {
                Ok(FailedRow {
                    key: row.get("key")?,
                    reason: row.get("reason")?,
                    at: row.get("at")?,
                })
            })
            .collect()
    }
}
