//! The `failed_rows` table: quarantined rows, one per identity (a fixed row
//! removes its entry).

use super::sql::Sql;
use super::Store;
use crate::engine::error::StoreError;
use crate::engine::record::Quarantined;
use crate::engine::time::Micros;
use crate::params;

/// A quarantined row as `/status` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedRow {
    pub key: Option<String>,
    pub reason: String,
    pub at: Micros,
}

impl<S: Sql> Store<S> {
    pub(super) fn record_failures(
        &self,
        rows: &[Quarantined],
        now: Micros,
    ) -> Result<(), StoreError> {
        for q in rows {
            self.sql.execute(
                "INSERT INTO failed_rows (id, key, reason, at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET reason = excluded.reason, at = excluded.at",
                params![q.identity(), q.key, q.reason, now],
            )?;
        }
        Ok(())
    }

    /// How many rows are quarantined, and the newest `limit` of them.
    pub fn failed_rows(&self, limit: u32) -> Result<(u64, Vec<FailedRow>), StoreError> {
        let count = self.sql.query("SELECT COUNT(*) FROM failed_rows", &[])?;
        let count: u64 = count.first().map(|r| r.get(0)).transpose()?.unwrap_or(0);
        let recent = self
            .sql
            .query(
                "SELECT key, reason, at FROM failed_rows ORDER BY at DESC LIMIT ?",
                params![limit],
            )?
            .iter()
            .map(|row| {
                Ok(FailedRow {
                    key: row.get(0)?,
                    reason: row.get(1)?,
                    at: row.get(2)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((count, recent))
    }
}
