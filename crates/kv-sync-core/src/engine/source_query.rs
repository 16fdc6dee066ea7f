//! Wrapping the user's source query with the cursor and the sync order.
//!
//! The user writes "one row per key" SQL; kv-sync owns the window, the
//! order and the rule for a source that breaks "one row per key", so a
//! custom `SYNC_QUERY` cannot get any of them wrong:
//! - the window is `updated_at >= @since` (the cursor minus the lookback, to
//!   catch rows that land late), plus every row whose `updated_at` is null,
//!   so such a row is reported as failed instead of silently left out;
//! - of the rows of one key, the newest `updated_at` wins and an exact tie
//!   goes to the greater row text, the same one on every run (rows without
//!   a key are each kept, to be reported);
//! - an incremental run reads rows in `(updated_at, key)` order, nulls
//!   first, so the cursor can follow it; a full run reads in key order, so
//!   the stored keys can be compared beside it (`key_walk`). A run that must
//!   re-query mid-way (its job's results expired) continues strictly after
//!   its last acknowledged position in that order.

use super::cursor::Cursor;
use super::time::{to_rfc3339, Micros};

/// One query job's worth of request: SQL text and its named parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceQuery {
    pub sql: String,
    pub params: Vec<QueryParam>,
    pub page_rows: u32,
    /// BigQuery's idempotency key for `jobs.query`: a retry of the same
    /// request (its answer lost) gets the job the first one made, not a
    /// second job.
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueryParam {
    pub name: &'static str,
    pub kind: ParamKind,
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Timestamp,
    String,
}

impl ParamKind {
    pub fn bigquery_type(self) -> &'static str {
        match self {
            ParamKind::Timestamp => "TIMESTAMP",
            ParamKind::String => "STRING",
        }
    }
}

const SOURCE: &str = "kv_sync_source";

/// The order a run reads its rows in, and where a re-query resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOrder<'a> {
    /// `(updated_at, key)`, after this position if set.
    ByUpdate(Option<&'a Cursor>),
    /// `key`, after this key if set.
    ByKey(Option<&'a str>),
}

/// Builds the wrapped query for a run reading from `since` in `order`.
pub fn wrap(user_sql: &str, since: Micros, order: ReadOrder<'_>, page_rows: u32) -> SourceQuery {
    let body = user_sql.trim().trim_end_matches(';').trim_end();
    let mut sql = format!(
        "SELECT * EXCEPT (kv_sync_rank) FROM (\n\
         SELECT {SOURCE}.*, ROW_NUMBER() OVER (PARTITION BY {SOURCE}.key\n\
         ORDER BY {SOURCE}.updated_at DESC NULLS LAST, TO_JSON_STRING({SOURCE}) DESC) AS kv_sync_rank\n\
         FROM (\n{body}\n) AS {SOURCE}\n\
         WHERE {SOURCE}.updated_at >= @since OR {SOURCE}.updated_at IS NULL\n\
         ) AS kv_sync_rows\nWHERE (kv_sync_rank = 1 OR key IS NULL)"
    );
    let mut params = vec![QueryParam {
        name: "since",
        kind: ParamKind::Timestamp,
        value: to_rfc3339(since),
    }];
    let after_key = |key: &str| QueryParam {
        name: "after_key",
        kind: ParamKind::String,
        value: key.to_owned(),
    };
    match order {
        ReadOrder::ByUpdate(after) => {
            if let Some(after) = after {
                sql.push_str(
                    "\n  AND (updated_at > @after_updated_at OR (updated_at = @after_updated_at AND key > @after_key))",
                );
                params.push(QueryParam {
                    name: "after_updated_at",
                    kind: ParamKind::Timestamp,
                    value: to_rfc3339(after.updated_at),
                });
                params.push(after_key(&after.key));
            }
            sql.push_str("\nORDER BY updated_at ASC NULLS FIRST, key");
        }
        ReadOrder::ByKey(after) => {
            // NULL keys (rows to report) come last, after every key, so a
            // re-query after a key still reads them.
            if let Some(after) = after {
                sql.push_str("\n  AND (key > @after_key OR key IS NULL)");
                params.push(after_key(after));
            }
            sql.push_str("\nORDER BY key ASC NULLS LAST");
        }
    }
    SourceQuery {
        sql,
        params,
        page_rows,
        request_id: None,
    }
}

/// The digest of a source query, as stored to tell when it changed.
pub fn query_digest(query: &str) -> String {
    crate::engine::record::ContentHash::of(query.trim().as_bytes()).to_hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_with_window_and_order() {
        let q = wrap(
            "SELECT key, updated_at FROM t;\n",
            1_000_000,
            ReadOrder::ByUpdate(None),
            500,
        );
        assert!(q
            .sql
            .contains("FROM (\nSELECT key, updated_at FROM t\n) AS kv_sync_source"));
        assert!(q
            .sql
            .contains("updated_at >= @since OR kv_sync_source.updated_at IS NULL"));
        assert!(q.sql.contains("PARTITION BY kv_sync_source.key"));
        assert!(q.sql.ends_with("ORDER BY updated_at ASC NULLS FIRST, key"));
        assert_eq!(q.params.len(), 1);
        assert_eq!(q.params[0].value, "1970-01-01T00:00:01.000000Z");
    }

    #[test]
    fn resumes_strictly_after_a_position() {
        let after = Cursor::new(7, "lead-9");
        let q = wrap("SELECT 1", 0, ReadOrder::ByUpdate(Some(&after)), 10);
        assert!(q.sql.contains("key > @after_key"));
        assert_eq!(q.params[2].value, "lead-9");
        assert_eq!(q.params[1].value, "1970-01-01T00:00:00.000007Z");
    }

    #[test]
    fn a_full_read_goes_in_key_order_and_resumes_after_a_key() {
        let q = wrap("SELECT 1", 0, ReadOrder::ByKey(None), 10);
        assert!(q.sql.ends_with("ORDER BY key ASC NULLS LAST"));
        assert_eq!(q.params.len(), 1);
        let q = wrap("SELECT 1", 0, ReadOrder::ByKey(Some("lead-9")), 10);
        assert!(q
            .sql
            .contains("AND (key > @after_key OR key IS NULL)\nORDER BY key"));
        assert!(!q.sql.contains("@after_updated_at"));
        assert_eq!(q.params[1].value, "lead-9");
    }
}
