//! Keys a full run found absent from the source (`key_hashes.absent_in`):
//! the stretches a read in key order passed are compared with the stored
//! keys here (see `engine::key_walk`), and the orphans are the keys marked
//! absent by the full read under way.
//!
//! Ranges are written as plain `key > ?` / `key <= ?` terms, never as
//! `(? IS NULL OR key > ?)`: SQLite plans a statement before it sees its
//! parameters, and only the plain form lets it walk the primary key from
//! the bound instead of reading every key held.

use super::sql::{json_arrays, Sql, SqlValue, ToSql};
use super::Store;
use crate::engine::error::StoreError;
use crate::engine::key_walk::Stretch;
use crate::engine::ports::Orphan;
use crate::engine::record::ContentHash;
use crate::params;

/// A `WHERE` clause under construction, with its parameters in order.
struct Terms {
    sql: String,
    values: Vec<SqlValue>,
}

impl Terms {
    fn new(sql: &str, values: &[SqlValue]) -> Self {
        Terms {
            sql: sql.to_owned(),
            values: values.to_vec(),
        }
    }

    fn and<T: ToSql + ?Sized>(mut self, term: &str, value: &T) -> Self {
        self.sql.push_str(" AND ");
        self.sql.push_str(term);
        self.values.push(value.to_sql());
        self
    }

    fn and_after(self, after: Option<&str>) -> Self {
        match after {
            Some(after) => self.and("key > ?", after),
            None => self,
        }
    }
}

impl<S: Sql> Store<S> {
    /// Marks absent in `run` the keys of `stretch` that `read` (the keys of
    /// the batch) lacks, unless a write confirmed after the read began says
    /// the key was in the source since (a write whose answer never came,
    /// still `UNCONFIRMED`, says nothing).
    pub(super) fn mark_absent(
        &self,
        stretch: &Stretch<'_>,
        read: &[String],
        run: u64,
    ) -> Result<(), StoreError> {
        let mut terms = Terms::new(
            "UPDATE key_hashes SET absent_in = ? WHERE absent_in IS NOT ?
               AND (written_at <= ? OR hash = ?)",
            params![run, run, stretch.written_until, ContentHash::UNCONFIRMED],
        )
        .and_after(stretch.after);
        if let Some(through) = stretch.through {
            terms = terms.and("key <= ?", through);
        }
        for array in json_arrays(read)? {
            terms = terms.and("key NOT IN (SELECT value FROM json_each(?))", &array);
        }
        self.sql.execute(&terms.sql, &terms.values)
    }

    /// Clears the marks of keys a full run read: they are in the source.
    /// Writes only the keys that carried a mark (read out of key order, or
    /// marked by an earlier read).
    pub(super) fn clear_absent(&self, read: &[String]) -> Result<(), StoreError> {
        for array in json_arrays(read)? {
            self.sql.execute(
                "UPDATE key_hashes SET absent_in = NULL
                  WHERE absent_in IS NOT NULL AND key IN (SELECT value FROM json_each(?))",
                params![array],
            )?;
        }
        Ok(())
    }

    /// Up to `limit` keys marked absent in run `from` or later, after
    /// `after`, in key order (through the index of marked keys only).
    pub(super) fn absent_keys(
        &self,
        from: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Orphan>, StoreError> {
        let terms = Terms::new(
            "SELECT key, hash <> ? AS live, written_at FROM key_hashes INDEXED BY key_hashes_absent
              WHERE absent_in >= ?",
            params![ContentHash::DELETED, from],
        )
        .and_after(after);
        self.page_of_keys(terms, limit)
    }

    /// Up to `limit` keys held (tombstones included), after `after`, in key
    /// order.
    pub(super) fn keys_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Orphan>, StoreError> {
        let terms = Terms::new(
            "SELECT key, hash <> ? AS live, written_at FROM key_hashes WHERE true",
            params![ContentHash::DELETED],
        )
        .and_after(after);
        self.page_of_keys(terms, limit)
    }

    fn page_of_keys(&self, terms: Terms, limit: usize) -> Result<Vec<Orphan>, StoreError> {
        let Terms {
            mut sql,
            mut values,
        } = terms;
        sql.push_str(" ORDER BY key LIMIT ?");
        values.push(u64::try_from(limit).unwrap_or(u64::MAX).to_sql());
        self.sql
            .query(&sql, &values)?
            .iter()
            .map(|row| {
                Ok(Orphan {
                    key: row.get("key")?,
                    live: row.get("live")?,
                    written_at: row.get("written_at")?,
                })
            })
            .collect()
    }
}
