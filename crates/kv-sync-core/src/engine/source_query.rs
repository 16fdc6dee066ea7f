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
//! - rows come in `(updated_at, key)` order, nulls first, and a run that
//!   must re-query mid-way (its job's results expired) continues strictly
//!   after its last acknowledged position.

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

/// Builds the wrapped query for a run reading from `since`, resuming after
/// `after` when set.
pub fn wrap(user_sql: &str, since: Micros, after: Option<&Cursor>, page_rows: u32) -> SourceQuery {
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
    if let Some(after) = after {
        sql.push_str(
            "\n  AND (updated_at > @after_updated_at OR (updated_at = @after_updated_at AND key > @after_key))",
        );
        params.push(QueryParam {
            name: "after_updated_at",
            kind: ParamKind::Timestamp,
            value: to_rfc3339(after.updated_at),
        });
        params.push(QueryParam {
            name: "after_key",
            kind: ParamKind::String,
            value: after.key.clone(),
        });
    }
    sql.push_str("\nORDER BY updated_at ASC NULLS FIRST, key");
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
        let q = wrap("SELECT key, updated_at FROM t;\n", 1_000_000, None, 500);
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
        let q = wrap("SELECT 1", 0, Some(&Cursor::new(7, "lead-9")), 10);
        assert!(q.sql.contains("key > @after_key"));
        assert_eq!(q.params[2].value, "lead-9");
        assert_eq!(q.params[1].value, "1970-01-01T00:00:00.000007Z");
    }
}
