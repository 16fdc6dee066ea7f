//! What `POST /push` keeps: the result schema pushed rows are typed by,
//! each pushed write in `key_hashes` (marked as a push's, with its source
//! `updated_at`), and the counters `/status` shows.

use super::sql::Sql;
use super::Store;
use crate::engine::error::StoreError;
use crate::engine::record::{ContentHash, Quarantined};
use crate::engine::time::{to_rfc3339, Micros};
use crate::params;
use crate::push::verdict::{PushCounters, PushOutcome};

/// One acknowledged pushed write or delete.
pub struct PushedWrite<'a> {
    pub key: &'a str,
    pub hash: ContentHash,
    pub updated_at: Micros,
    pub now: Micros,
}

fn counter(outcome: PushOutcome) -> &'static str {
    match outcome {
        PushOutcome::Written => "push_written",
        PushOutcome::Deleted => "push_deleted",
        PushOutcome::Unchanged => "push_unchanged",
        PushOutcome::Stale => "push_stale",
        PushOutcome::Failed => "push_failed",
    }
}

impl<S: Sql> Store<S> {
    /// Keeps a result schema a pull read, once per digest.
    pub fn keep_result_schema(&self, digest: ContentHash, fields: &str) -> Result<(), StoreError> {
        self.sql.execute(
            "INSERT INTO result_schemas (digest, fields) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING",
            params![digest.to_hex(), fields],
        )
    }

    /// The result schema of the last completed pull, if one completed.
    pub fn pull_schema(&self) -> Result<Option<String>, StoreError> {
        let rows = self.sql.query(
            "SELECT r.fields AS fields FROM sync_state AS s JOIN result_schemas AS r
               ON r.digest = s.schema_digest WHERE s.id = 1",
            &[],
        )?;
        rows.first().map(|r| r.get("fields")).transpose()
    }

    /// Marks a key unconfirmed before a push writes it, with the time of
    /// the attempt (another push of the key waits a second from it). As for
    /// a run, a new key is an orphan to the next full read that does not
    /// read it.
    pub fn note_push_unconfirmed(&self, key: &str, now: Micros) -> Result<(), StoreError> {
        self.sql.execute(
            "INSERT INTO key_hashes (key, hash, written_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET hash = excluded.hash, written_at = excluded.written_at",
            params![key, ContentHash::UNCONFIRMED, now],
        )
    }

    /// Records a write or delete KV acknowledged, and counts it. A full
    /// read under way does not find the key absent (it was written after
    /// the read began, and any mark is cleared); the next one will read it
    /// if it is still in the source.
    pub fn record_push(
        &self,
        write: &PushedWrite<'_>,
        outcome: PushOutcome,
    ) -> Result<(), StoreError> {
        self.sql.transaction(|| {
            self.sql.execute(
                "INSERT INTO key_hashes (key, hash, written_at, updated_at, by_push)
                   VALUES (?1, ?2, ?3, ?4, 1)
                 ON CONFLICT (key) DO UPDATE SET hash = excluded.hash, written_at = excluded.written_at,
                   updated_at = excluded.updated_at, by_push = 1, run = NULL, absent_in = NULL",
                params![write.key, write.hash, write.now, write.updated_at],
            )?;
            let identity = serde_json::json!([[write.key]]).to_string();
            self.clear_failures(&identity)?;
            self.count_push(outcome, write.now)
        })
    }

    /// Records a pushed row that can never be written among the failed
    /// rows, and counts it.
    pub fn record_push_failure(&self, row: &Quarantined, now: Micros) -> Result<(), StoreError> {
        self.sql.transaction(|| {
            let run = self.next_run_id()?.saturating_sub(1);
            self.record_failures(std::slice::from_ref(row), run, now)?;
            self.count_push(PushOutcome::Failed, now)
        })
    }

    /// Counts one delivery and its outcome.
    pub fn count_push(&self, outcome: PushOutcome, now: Micros) -> Result<(), StoreError> {
        let column = counter(outcome);
        self.sql.execute(
            &format!(
                "UPDATE sync_state SET push_received = push_received + 1, {column} = {column} + 1,
                   push_last_at = ? WHERE id = 1"
            ),
            params![now],
        )
    }

    pub fn push_counters(&self) -> Result<PushCounters, StoreError> {
        let rows = self.sql.query(
            "SELECT push_received, push_written, push_deleted, push_unchanged, push_stale, push_failed,
                    push_last_at FROM sync_state WHERE id = 1",
            &[],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| StoreError::Storage("the sync_state row is missing".into()))?;
        Ok(PushCounters {
            received: row.get("push_received")?,
            written: row.get("push_written")?,
            deleted: row.get("push_deleted")?,
            unchanged: row.get("push_unchanged")?,
            stale: row.get("push_stale")?,
            failed: row.get("push_failed")?,
            last_at: row.get::<Option<Micros>>("push_last_at")?.map(to_rfc3339),
        })
    }
}
