//! A warehouse over an in-memory table: it evaluates the wrapped query's
//! window, one row per key, resume position and order, and pages the result.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use kv_sync_core::engine::cursor::Cursor;
use kv_sync_core::engine::error::WarehouseError;
use kv_sync_core::engine::ports::{JobRef, ResultPage, Warehouse};
use kv_sync_core::engine::record::{ContentHash, PageRow, SourceRow};
use kv_sync_core::engine::source_query::SourceQuery;
use kv_sync_core::engine::time::{parse_rfc3339, Micros};

use super::Faults;

/// A row of the fake source table.
#[derive(Clone, Debug, PartialEq)]
pub struct Lead {
    pub key: Option<String>,
    pub updated_at: Option<Micros>,
    pub deleted: bool,
    pub name: String,
    pub visits: i64,
}

impl Lead {
    pub fn new(key: &str, updated_at: Micros, name: &str, visits: i64) -> Self {
        Lead {
            key: Some(key.into()),
            updated_at: Some(updated_at),
            deleted: false,
            name: name.into(),
            visits,
        }
    }

    /// The KV value kv-sync must write for this row.
    pub fn expected_value(&self) -> Value {
        json!({ "name": self.name, "visits": self.visits })
    }

    /// What breaks a tie between two rows of one key with one
    /// `updated_at` (the wrapper's `TO_JSON_STRING` of the row).
    fn tie_break(&self) -> (bool, &str, i64) {
        (self.deleted, &self.name, self.visits)
    }

    /// The row as a warehouse adapter hands it to the engine.
    fn to_row(&self) -> SourceRow {
        SourceRow {
            key: self.key.clone(),
            updated_at: self.updated_at,
            deleted: self.deleted,
            value: self.expected_value().to_string(),
        }
    }
}

/// `Lead`'s columns as a result schema: its value is `{"name", "visits"}`.
pub const LEAD_SCHEMA: &str = r#"{"fields": [{"name": "key", "type": "STRING"},
    {"name": "updated_at", "type": "TIMESTAMP"}, {"name": "deleted", "type": "BOOLEAN"},
    {"name": "name", "type": "STRING"}, {"name": "visits", "type": "INTEGER"}]}"#;

#[derive(Default)]
pub struct FakeWarehouse {
    /// The source table: rows with a key by key, plus rows with a null key.
    pub rows: BTreeMap<String, Lead>,
    pub keyless: Vec<Lead>,
    /// More rows for keys in `rows`: a source that breaks "one row per key".
    pub duplicates: Vec<Lead>,
    jobs: HashMap<String, Vec<Lead>>,
    pub jobs_started: u32,
    pub pages_read: u32,
    /// Rows sent back over all pages: what a real client would download.
    pub rows_served: u64,
    /// The rows of each complete page served, in order.
    pub page_rows: Vec<usize>,
    /// Polls that answer `jobComplete: false` before a job completes.
    pub polls_before_complete: u32,
    polls_left: HashMap<String, u32>,
    pub faults: Faults,
    /// Jobs kv-sync asked to cancel.
    pub cancelled: Vec<String>,
    /// Every query's SQL and parameters, for assertions.
    pub queries: Vec<SourceQuery>,
    /// Set: every `jobs.query` is refused with this error.
    pub reject_queries: Option<WarehouseError>,
    /// Stands for the result's column names and types: change it to
    /// change the schema the pages report.
    pub columns: u64,
}

impl FakeWarehouse {
    pub fn upsert(&mut self, row: Lead) {
        match &row.key {
            Some(k) => {
                self.rows.insert(k.clone(), row);
            }
            None => self.keyless.push(row),
        }
    }

    /// Removes a key's rows from the source (a hard delete).
    pub fn remove(&mut self, key: &str) {
        self.rows.remove(key);
        self.duplicates.retain(|d| d.key.as_deref() != Some(key));
    }

    /// The row of each key that wins (the newest; of equals, the greater
    /// row): what KV must hold, unless it is a delete.
    pub fn winners(&self) -> BTreeMap<String, &Lead> {
        let mut best: BTreeMap<String, &Lead> = BTreeMap::new();
        for row in self.rows.values().chain(&self.duplicates) {
            let key = row.key.clone().expect("keyed rows");
            let better =
                |b: &&Lead| (row.updated_at, row.tie_break()) > (b.updated_at, b.tie_break());
            if best.get(&key).is_none_or(better) {
                best.insert(key, row);
            }
        }
        best
    }

    /// Forgets every job, as BigQuery does when results expire.
    pub fn expire_jobs(&mut self) {
        self.jobs.clear();
    }

    /// The wrapped query (`engine::source_query::wrap`) over the table:
    /// the window (nulls included), one row per key, the resume position,
    /// the order (nulls first).
    fn evaluate(&self, query: &SourceQuery) -> Vec<Lead> {
        let param = |name: &str| {
            query
                .params
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.value.clone())
        };
        let since = parse_rfc3339(&param("since").expect("@since is always passed")).unwrap();
        let by_key = query.sql.ends_with("ORDER BY key ASC NULLS LAST");
        let after_key = param("after_key").filter(|_| by_key);
        let after = param("after_updated_at")
            .map(|t| Cursor::new(parse_rfc3339(&t).unwrap(), param("after_key").unwrap()));
        let in_window = |r: &&Lead| r.updated_at.is_none_or(|t| t >= since);
        let mut best: BTreeMap<&str, &Lead> = BTreeMap::new();
        for row in self.rows.values().chain(&self.duplicates).filter(in_window) {
            let key = row.key.as_deref().expect("keyed rows");
            let better =
                |b: &&Lead| (row.updated_at, row.tie_break()) > (b.updated_at, b.tie_break());
            if best.get(key).is_none_or(better) {
                best.insert(key, row);
            }
        }
        let mut selected: Vec<&Lead> = best
            .into_values()
            .chain(self.keyless.iter().filter(in_window))
            .filter(|r| match (&after, &r.key, r.updated_at) {
                (Some(a), Some(k), Some(t)) => Cursor::new(t, k.clone()) > *a,
                (Some(_), _, _) => false,
                (None, _, _) => true,
            })
            .filter(|r| after_key.is_none() || r.key.is_none() || r.key > after_key)
            .collect();
        if by_key {
            // A full read: ORDER BY key ASC NULLS LAST.
            selected.sort_by(|a, b| (a.key.is_none(), &a.key).cmp(&(b.key.is_none(), &b.key)));
        } else {
            // ORDER BY updated_at ASC NULLS FIRST, key: NULL keys first too.
            selected.sort_by(|a, b| (a.updated_at, &a.key).cmp(&(b.updated_at, &b.key)));
        }
        selected.into_iter().cloned().collect()
    }

    fn page(
        &mut self,
        job_id: &str,
        offset: usize,
        max_rows: u32,
    ) -> Result<ResultPage, WarehouseError> {
        let job = JobRef {
            project_id: "test".into(),
            job_id: job_id.into(),
            location: Some("US".into()),
        };
        let polls = self
            .polls_left
            .entry(job_id.to_string())
            .or_insert(self.polls_before_complete);
        if *polls > 0 {
            *polls -= 1;
            return Ok(ResultPage {
                job,
                complete: false,
                rows: vec![],
                total_rows: None,
                next_page_token: None,
                schema: None,
                schema_fields: None,
                cost: Default::default(),
                bytes: 0,
            });
        }
        let Some(all) = self.jobs.get(job_id) else {
            return Err(WarehouseError::ResultsExpired(format!(
                "Not found: Job test:US.{job_id}"
            )));
        };
        let end = (offset + max_rows as usize).min(all.len());
        self.rows_served += (end - offset.min(end)) as u64;
        self.page_rows.push(end - offset.min(end));
        let rows: Vec<PageRow> = all[offset.min(end)..end]
            .iter()
            .map(|l| Ok(l.to_row()))
            .collect();
        // What the rows weigh on the wire: the value and the key, plus the
        // JSON a row is wrapped in.
        let bytes = rows
            .iter()
            .flatten()
            .map(|r| r.value.len() + r.key.as_deref().map_or(0, str::len) + 64)
            .sum();
        Ok(ResultPage {
            job,
            complete: true,
            rows,
            total_rows: Some(all.len() as u64),
            next_page_token: (end < all.len()).then(|| end.to_string()),
            schema: Some(ContentHash(self.columns)),
            schema_fields: None,
            cost: Default::default(),
            bytes,
        })
    }

    fn transient_fault(&mut self) -> Option<WarehouseError> {
        if !self.faults.strikes() {
            return None;
        }
        Some(match self.faults.pick(3) {
            0 => WarehouseError::RateLimited("Exceeded rate limits: too many api requests".into()),
            1 => WarehouseError::Backend("Backend error".into()),
            _ => WarehouseError::Unreachable("connection reset".into()),
        })
    }
}

impl Warehouse for FakeWarehouse {
    async fn start_query(&mut self, query: &SourceQuery) -> Result<ResultPage, WarehouseError> {
        if let Some(e) = self
            .transient_fault()
            .or_else(|| self.reject_queries.clone())
        {
            return Err(e);
        }
        self.queries.push(query.clone());
        self.jobs_started += 1;
        let job_id = format!("job_{}", self.jobs_started);
        let rows = self.evaluate(query);
        self.jobs.insert(job_id.clone(), rows);
        // The job exists now; the answer may still be lost on the way back.
        if self.faults.strikes() {
            return Err(WarehouseError::Unreachable(
                "answer to jobs.query lost".into(),
            ));
        }
        self.page(&job_id, 0, query.page_rows)
    }

    async fn cancel(&mut self, job: &JobRef) -> Result<(), WarehouseError> {
        self.cancelled.push(job.job_id.clone());
        Ok(())
    }

    /// The columns a `Lead` has, as BigQuery would describe them, once a
    /// job has read them.
    fn result_schema(&self) -> Option<(ContentHash, String)> {
        (self.jobs_started > 0).then(|| (ContentHash(self.columns), LEAD_SCHEMA.to_string()))
    }

    async fn read_page(
        &mut self,
        job: &JobRef,
        page_token: Option<&str>,
        max_rows: u32,
    ) -> Result<ResultPage, WarehouseError> {
        if let Some(e) = self.transient_fault() {
            return Err(e);
        }
        self.pages_read += 1;
        let offset = page_token.map_or(0, |t| t.parse().unwrap());
        self.page(&job.job_id, offset, max_rows)
    }
}
