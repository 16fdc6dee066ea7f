//! The `key_hashes` table (what kv-sync last wrote per key: the change
//! detector, and the list of keys it owns) and the engine's `StateStore`: a
//! checkpoint is one transaction. Which keys a full run found absent is in
//! `absence`.

use std::collections::HashMap;

use super::sql::{json_arrays, Sql, SqlRow};
use super::Store;
use crate::engine::cursor::Cursor;
use crate::engine::error::StoreError;
use crate::engine::ports::{Census, Checkpoint, Orphan, StateStore, StoredHash};
use crate::engine::record::ContentHash;
use crate::engine::time::Micros;
use crate::params;

impl<S: Sql> Store<S> {
    fn write_checkpoint(&self, c: &Checkpoint<'_>) -> Result<(), StoreError> {
        self.check_fence(c.fence)?;
        self.sql.execute(
            "UPDATE sync_state SET lease_expires_at = ? WHERE id = 1",
            params![c.lease_expires_at],
        )?;
        self.write_progress(c.progress)?;
        if let Some(cursor) = c.cursor {
            self.advance_cursor(cursor)?;
        }
        // A key written is in the source, whatever full read is under way.
        let run = c.progress.run_id;
        let rows: Vec<(&str, String, Micros, Micros)> = c
            .written
            .iter()
            .map(|w| (w.key.as_str(), w.hash.to_hex(), w.written_at, w.updated_at))
            .collect();
        // A key list can pass the platform's 2 MB limit for one value: it
        // travels in as many parameters as it needs.
        for array in json_arrays(&rows)? {
            self.sql.execute(
                "INSERT INTO key_hashes (key, hash, written_at, updated_at, by_push, run)
                   SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
                          json_extract(value, '$[3]'), 0, ?2
                   FROM json_each(?1) WHERE true
                 ON CONFLICT (key) DO UPDATE SET hash = excluded.hash, written_at = excluded.written_at,
                   updated_at = excluded.updated_at, by_push = 0, run = excluded.run, absent_in = NULL",
                params![array, run],
            )?;
            self.clear_failures(&array)?;
        }
        self.restamp(c.restamped)?;
        if let Some(stretch) = &c.stretch {
            self.mark_absent(stretch, c.seen, run)?;
        }
        self.clear_absent(c.seen)?;
        for array in json_arrays(c.forgotten)? {
            self.sql.execute(
                "DELETE FROM key_hashes WHERE key IN (SELECT value FROM json_each(?))",
                params![array],
            )?;
        }
        self.record_failures(c.quarantined, run, c.now)
    }
}

impl<S: Sql> Store<S> {
    /// Raises the stored `updated_at` of keys read unchanged in a newer
    /// version: only those rows are written, and never lowered. The newest
    /// version known is then a pull's, not a push's: a later pull of an
    /// older stamp is not held back as stale.
    fn restamp(&self, rows: &[Cursor]) -> Result<(), StoreError> {
        let rows: Vec<(&str, Micros)> = rows
            .iter()
            .map(|c| (c.key.as_str(), c.updated_at))
            .collect();
        for array in json_arrays(&rows)? {
            self.sql.execute(
                "UPDATE key_hashes SET updated_at = json_extract(j.value, '$[1]'), by_push = 0
                   FROM json_each(?) AS j
                  WHERE key_hashes.key = json_extract(j.value, '$[0]')
                    AND (key_hashes.updated_at IS NULL OR key_hashes.updated_at < json_extract(j.value, '$[1]'))",
                params![array],
            )?;
        }
        Ok(())
    }
}

/// A `key_hashes` row as the change detector reads it.
fn stored_hash(row: &SqlRow) -> Result<StoredHash, StoreError> {
    Ok(StoredHash {
        hash: row.get("hash")?,
        written_at: row.get("written_at")?,
        updated_at: row.get("updated_at")?,
        by_push: row.get("by_push")?,
    })
}

/// Implemented on a shared reference: the store holds no state of its own
/// (SQLite does), so the coordinator lends the engine the one it has.
impl<S: Sql> StateStore for &Store<S> {
    fn stored_hashes(&self, keys: &[&str]) -> Result<Vec<Option<StoredHash>>, StoreError> {
        let mut found: HashMap<String, StoredHash> = HashMap::with_capacity(keys.len());
        // One statement per key list, not per key (Durable Object SQL caps
        // bound parameters at 100).
        for array in json_arrays(keys)? {
            let rows = self.sql.query(
                "SELECT h.key AS key, h.hash AS hash, h.written_at AS written_at, h.updated_at AS updated_at,
                        h.by_push AS by_push
                   FROM json_each(?) AS k JOIN key_hashes AS h ON h.key = k.value",
                params![array],
            )?;
            for row in rows {
                found.insert(row.get("key")?, stored_hash(&row)?);
            }
        }
        Ok(keys.iter().map(|k| found.remove(*k)).collect())
    }

    fn commit(&mut self, checkpoint: Checkpoint<'_>) -> Result<(), StoreError> {
        self.sql.transaction(|| self.write_checkpoint(&checkpoint))
    }

    fn note_unconfirmed(
        &mut self,
        fence: u64,
        keys: &[&str],
        now: Micros,
    ) -> Result<(), StoreError> {
        self.sql.transaction(|| {
            self.check_fence(fence)?;
            for array in json_arrays(keys)? {
                // A new key is an orphan to the next full read that does
                // not read it; a known one keeps what it had. Its value is
                // unknown until the checkpoint.
                self.sql.execute(
                    "INSERT INTO key_hashes (key, hash, written_at)
                       SELECT value, ?2, ?3 FROM json_each(?1) WHERE true
                     ON CONFLICT (key) DO UPDATE SET hash = excluded.hash",
                    params![array, ContentHash::UNCONFIRMED, now],
                )?;
            }
            Ok(())
        })
    }

    fn census(&self, run_id: u64) -> Result<Census, StoreError> {
        let rows = self.sql.query(
            "SELECT COALESCE(SUM(hash <> ?2), 0) AS held,
                    COALESCE(SUM(hash <> ?2 AND absent_in >= ?1), 0) AS orphans,
                    COALESCE(SUM(hash = ?2 AND absent_in >= ?1), 0) AS stale_tombstones
               FROM key_hashes",
            params![run_id, ContentHash::DELETED],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Storage("the census found no row".into()))?;
        Ok(Census {
            held: row.get("held")?,
            orphans: row.get("orphans")?,
            stale_tombstones: row.get("stale_tombstones")?,
        })
    }

    fn orphans(
        &self,
        run_id: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Orphan>, StoreError> {
        self.absent_keys(run_id, after, limit)
    }

    fn held_keys(&self, after: Option<&str>, limit: usize) -> Result<Vec<Orphan>, StoreError> {
        self.keys_after(after, limit)
    }
}
