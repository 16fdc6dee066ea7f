//! The `key_hashes` table (what kv-sync last wrote per key: the change
//! detector) and the engine's `StateStore`: a checkpoint is one transaction.

use std::collections::HashMap;

use super::sql::{json_arrays, Sql};
use super::Store;
use crate::engine::error::StoreError;
use crate::engine::ports::{Checkpoint, StateStore, StoredHash};
use crate::engine::time::Micros;
use crate::params;

impl<S: Sql> Store<S> {
    /// The oldest write time among stored hashes (for TTL refresh runs).
    pub fn oldest_write(&self) -> Result<Option<Micros>, StoreError> {
        let rows = self
            .sql
            .query("SELECT MIN(written_at) FROM key_hashes", &[])?;
        Ok(rows.first().map(|r| r.get(0)).transpose()?.flatten())
    }

    fn write_checkpoint(&self, c: &Checkpoint<'_>) -> Result<(), StoreError> {
        self.check_fence(c.fence)?;
        self.sql.execute(
            "UPDATE sync_state SET lease_expires_at = ? WHERE id = 1",
            params![c.lease_expires_at],
        )?;
        self.write_progress(c.progress)?;
        if let Some(position) = &c.progress.position {
            self.advance_cursor(position)?;
        }
        let rows: Vec<(&str, String, Micros)> = c
            .written
            .iter()
            .map(|w| (w.key.as_str(), w.hash.to_hex(), w.written_at))
            .collect();
        // A key list can pass the platform's 2 MB limit for one value: it
        // travels in as many parameters as it needs.
        for array in json_arrays(&rows)? {
            self.sql.execute(
                "INSERT INTO key_hashes (key, hash, written_at)
                   SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
                   FROM json_each(?1) WHERE true
                 ON CONFLICT (key) DO UPDATE SET hash = excluded.hash, written_at = excluded.written_at",
                params![array],
            )?;
            self.sql.execute(
                "DELETE FROM failed_rows WHERE id IN (SELECT json_extract(value, '$[0]') FROM json_each(?))",
                params![array],
            )?;
        }
        self.record_failures(c.quarantined, c.now)
    }
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
                "SELECT h.key, h.hash, h.written_at FROM json_each(?) AS k JOIN key_hashes AS h ON h.key = k.value",
                params![array],
            )?;
            for row in rows {
                let stored = StoredHash {
                    hash: row.get(1)?,
                    written_at: row.get(2)?,
                };
                found.insert(row.get(0)?, stored);
            }
        }
        Ok(keys.iter().map(|k| found.remove(*k)).collect())
    }

    fn commit(&mut self, checkpoint: Checkpoint<'_>) -> Result<(), StoreError> {
        self.sql.transaction(|| self.write_checkpoint(&checkpoint))
    }
}
