//! The body of a `jobs.query` or `getQueryResults` answer, read in one pass.
//!
//! A page is mostly rows. BigQuery writes `schema` before `rows`, so the rows
//! are decoded against it as they are read; a body that puts them the other
//! way round is still read right, by keeping the rows as borrowed text until
//! the schema has arrived.

use serde::Deserialize;

use super::json::{Reader, SyntaxError};
use super::row::{decode_rows, read_rows};
use super::typing::Schema;
use crate::engine::record::{ContentHash, PageRow};

/// The parts of the body kv-sync reads.
#[derive(Default)]
pub(super) struct QueryBody {
    pub job_reference: Option<WireJobRef>,
    /// The query's id when short query mode answered without a job.
    pub query_id: Option<String>,
    /// What BigQuery says the job cost (int64 values come as strings).
    pub total_bytes_billed: Option<String>,
    pub total_bytes_processed: Option<String>,
    pub cache_hit: Option<bool>,
    pub job_complete: Option<bool>,
    pub rows: Vec<PageRow>,
    pub total_rows: Option<String>,
    pub page_token: Option<String>,
    pub errors: Vec<ErrorProto>,
    /// The digest of the result's columns, when the body has a schema.
    pub schema_digest: Option<ContentHash>,
    /// The schema's JSON as the body gave it.
    pub schema_fields: Option<String>,
    /// Why the result's columns cannot be synced (`Schema::unusable`).
    pub unusable: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireJobRef {
    pub project_id: String,
    pub job_id: String,
    pub location: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct ErrorProto {
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
}

impl QueryBody {
    pub(super) fn read(body: &str) -> Result<Self, SyntaxError> {
        let mut r = Reader::new(body);
        let mut page = QueryBody::default();
        let mut schema: Option<Schema> = None;
        let mut early_rows = None;
        r.object(|r, name| {
            match (name, &schema) {
                ("rows", Some(schema)) => page.rows = read_rows(r, schema)?,
                ("rows", None) => early_rows = Some(r.skip()?),
                ("schema", _) => {
                    let text = r.skip()?;
                    schema = Reader::new(text).parse()?;
                    page.schema_fields = schema.is_some().then(|| text.to_string());
                }
                ("jobReference", _) => page.job_reference = r.parse()?,
                ("queryId", _) => page.query_id = r.parse()?,
                ("totalBytesBilled", _) => page.total_bytes_billed = r.parse()?,
                ("totalBytesProcessed", _) => page.total_bytes_processed = r.parse()?,
                ("cacheHit", _) => page.cache_hit = r.parse()?,
                ("jobComplete", _) => page.job_complete = r.parse()?,
                ("totalRows", _) => page.total_rows = r.parse()?,
                ("pageToken", _) => page.page_token = r.parse()?,
                ("errors", _) => page.errors = r.parse::<Option<_>>()?.unwrap_or_default(),
                _ => {
                    r.skip()?;
                }
            }
            Ok(())
        })?;
        r.end()?;
        if let Some(rows) = early_rows {
            page.rows = match &schema {
                Some(schema) => decode_rows(schema, rows)?,
                None if rows == "null" => Vec::new(),
                None => return Err(r.error("the page has rows but no schema")),
            };
        }
        page.schema_digest = schema.as_ref().map(Schema::digest);
        page.unusable = schema.as_ref().and_then(Schema::unusable);
        Ok(page)
    }
}
