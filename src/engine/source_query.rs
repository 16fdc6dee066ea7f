//! Wrapping the user's source query with the cursor and the sync order.
//!
//! The user writes "one row per key" SQL; kv-sync owns the window and the
//! order, so a custom `SYNC_QUERY` cannot forget either. The window is
//! `updated_at >= @since` (the cursor minus the lookback, to catch rows that
//! land late), and a run that must re-query mid-way (its job's results
//! expired) continues strictly after its last acknowledged position.

use super::cursor::Cursor;
use super::time::{to_rfc3339, Micros};

/// One query job's worth of request: SQL text and its named parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceQuery {
    pub sql: String,
    pub params: Vec<QueryParam>,
    pub page_rows: u32,
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
    let mut sql =
        format!("SELECT * FROM (\n{body}\n) AS {SOURCE}\nWHERE {SOURCE}.updated_at >= @since");
    let mut params = vec![QueryParam {
        name: "since",
        kind: ParamKind::Timestamp,
        value: to_rfc3339(since),
    }];
    if let Some(after) = after {
        sql.push_str(&format!(
            "\n  AND ({SOURCE}.updated_at > @after_updated_at OR ({SOURCE}.updated_at = @after_updated_at AND {SOURCE}.key > @after_key))"
        ));
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
    sql.push_str(&format!("\nORDER BY {SOURCE}.updated_at, {SOURCE}.key"));
    SourceQuery {
        sql,
        params,
        page_rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_with_window_and_order() {
        let q = wrap("SELECT key, updated_at FROM t;\n", 1_000_000, None, 500);
        assert!(q
            .sql
            .starts_with("SELECT * FROM (\nSELECT key, updated_at FROM t\n)"));
        assert!(q.sql.contains("updated_at >= @since"));
        assert!(q
            .sql
            .ends_with("ORDER BY kv_sync_source.updated_at, kv_sync_source.key"));
        assert_eq!(q.params.len(), 1);
        assert_eq!(q.params[0].value, "1970-01-01T00:00:01.000000Z");
    }

    #[test]
    fn resumes_strictly_after_a_position() {
        let q = wrap("SELECT 1", 0, Some(&Cursor::new(7, "lead-9")), 10);
        assert!(q.sql.contains("kv_sync_source.key > @after_key"));
        assert_eq!(q.params[2].value, "lead-9");
        assert_eq!(q.params[1].value, "1970-01-01T00:00:00.000007Z");
    }
}
