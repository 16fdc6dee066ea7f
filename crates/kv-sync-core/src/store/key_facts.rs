//! What the store knows of one key, for `GET /keys/KEY`.

use super::sql::Sql;
use super::Store;
use crate::coordinator::policy::explanation::{KeyFacts, WrittenFacts};
use crate::engine::error::StoreError;
use crate::params;

impl<S: Sql> Store<S> {
    /// The key's `key_hashes` row and its `failed_rows` entry, if any.
    pub fn key_facts(&self, key: &str) -> Result<KeyFacts, StoreError> {
        let written = self
            .sql
            .query(
                "SELECT hash, written_at, updated_at, by_push, run FROM key_hashes WHERE key = ?",
                params![key],
            )?
            .first()
            .map(|row| {
                Ok::<_, StoreError>(WrittenFacts {
                    hash: row.get("hash")?,
                    written_at: row.get("written_at")?,
                    updated_at: row.get("updated_at")?,
                    by_push: row.get("by_push")?,
                    run: row.get("run")?,
                })
            })
            .transpose()?;
        let failed = self
            .sql
            .query(
                "SELECT reason, at FROM failed_rows WHERE id = ?",
                params![key],
            )?
            .first()
            .map(|row| Ok::<_, StoreError>((row.get("reason")?, row.get("at")?)))
            .transpose()?;
        Ok(KeyFacts { written, failed })
    }
}
