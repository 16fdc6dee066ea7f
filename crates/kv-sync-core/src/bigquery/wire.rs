//! The JSON BigQuery speaks, and how its answers map to `WarehouseError`.
//!
//! BigQuery reports a failed query with an HTTP error and an `error` object;
//! the emulator answers HTTP 200 with an `errors` array. Both are read, so a
//! bad query is never mistaken for an empty result.

use serde::Deserialize;
use serde_json::{json, Value};

use super::page::{ErrorProto, QueryBody, WireJobRef};
use crate::engine::error::WarehouseError;
use crate::engine::excerpt::{excerpt, QUOTE_BYTES};
use crate::engine::ports::{JobRef, ResultPage};
use crate::engine::source_query::SourceQuery;
use crate::engine::spend::JobCost;
use crate::runtime::url::encode;

/// How long one call asks BigQuery to wait for a job before answering
/// `jobComplete: false` (BigQuery caps this at 10 s).
pub const WAIT_MS: u32 = 10_000;

/// The body of `POST /projects/{project}/queries`.
pub fn query_request(query: &SourceQuery, location: &str) -> Value {
    let params: Vec<Value> = query
        .params
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "parameterType": {"type": p.kind.bigquery_type()},
                "parameterValue": {"value": p.value},
            })
        })
        .collect();
    let mut body = json!({
        "query": query.sql,
        "useLegacySql": false,
        "parameterMode": "NAMED",
        "queryParameters": params,
        "location": location,
        "maxResults": query.page_rows,
        "timeoutMs": WAIT_MS,
        "formatOptions": {"useInt64Timestamp": true},
        // Short query mode: a small result comes back at once without a
        // job (lower latency for the idle polls of a 10 s interval); a
        // result that pages, or a query that runs long, still gets one.
        "jobCreationMode": "JOB_CREATION_OPTIONAL",
    });
    if let Some(id) = &query.request_id {
        body["requestId"] = json!(id);
    }
    body
}

/// The query string of `GET /projects/{project}/queries/{job}`.
pub fn results_query_string(job: &JobRef, page_token: Option<&str>, max_rows: u32) -> String {
    let mut q =
        format!("maxResults={max_rows}&timeoutMs={WAIT_MS}&formatOptions.useInt64Timestamp=true");
    if let Some(location) = &job.location {
        q.push_str(&format!("&location={}", encode(location)));
    }
    if let Some(token) = page_token {
        q.push_str(&format!("&pageToken={}", encode(token)));
    }
    q
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorEnvelope>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ErrorProto>,
}

/// Which call an answer belongs to: a 404 means "no such table" to
/// `jobs.query` but "the job's results are gone" to `getQueryResults`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Query,
    Results,
}

/// Turns an HTTP answer into a page or a classified error.
pub fn parse_response(call: Call, status: u16, body: &str) -> Result<ResultPage, WarehouseError> {
    if status == 404 && call == Call::Results {
        return Err(WarehouseError::ResultsExpired(format!(
            "job results are gone: {}",
            excerpt(body, QUOTE_BYTES)
        )));
    }
    if !(200..300).contains(&status) {
        return Err(classify_http(status, body));
    }
    let mut response = QueryBody::read(body).map_err(|e| {
        WarehouseError::Malformed(format!(
            "response is not BigQuery JSON ({e}): {}",
            excerpt(body, QUOTE_BYTES)
        ))
    })?;
    if let Some(first) = response.errors.first() {
        return Err(classify_reason(status, &first.reason, &first.message));
    }
    if let Some(unusable) = response.unusable {
        return Err(WarehouseError::InvalidQuery(unusable));
    }
    let complete = response.job_complete.unwrap_or(false);
    let job = job_of(&mut response, complete)?;
    let total_rows = count(response.total_rows.as_deref(), "totalRows")?;
    Ok(ResultPage {
        job: JobRef {
            project_id: job.project_id,
            job_id: job.job_id,
            location: job.location,
        },
        complete,
        rows: response.rows,
        total_rows,
        next_page_token: response.page_token.filter(|t| !t.is_empty()),
        schema: response.schema_digest,
        cost: JobCost {
            bytes_billed: count(response.total_bytes_billed.as_deref(), "totalBytesBilled")?,
            bytes_processed: count(
                response.total_bytes_processed.as_deref(),
                "totalBytesProcessed",
            )?,
            cache_hit: response.cache_hit,
        },
        schema_fields: response.schema_fields,
        bytes: body.len(),
    })
}

/// The job an answer belongs to. Short query mode may answer without one:
/// then the whole result is here, and there is no job to read more from.
fn job_of(response: &mut QueryBody, complete: bool) -> Result<WireJobRef, WarehouseError> {
    match (response.job_reference.take(), response.query_id.take()) {
        (Some(job), _) => Ok(job),
        (None, Some(query_id)) if complete && response.page_token.is_none() => Ok(WireJobRef {
            project_id: String::new(),
            job_id: format!("query:{query_id}"),
            location: None,
        }),
        _ => Err(WarehouseError::Malformed(
            "response has no jobReference".into(),
        )),
    }
}

/// An int64 count (`name`), which BigQuery sends as a string.
fn count(text: Option<&str>, name: &str) -> Result<Option<u64>, WarehouseError> {
    text.map(|t| {
        t.parse::<u64>()
            .map_err(|_| WarehouseError::Malformed(format!("{name} {t:?}")))
    })
    .transpose()
}

fn classify_http(status: u16, body: &str) -> WarehouseError {
    let parsed: Option<ErrorEnvelope> = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error);
    let (reason, message) = match &parsed {
        Some(e) => {
            let first = e.errors.first();
            let reason = first.map(|f| f.reason.clone()).unwrap_or_default();
            let message = if e.message.is_empty() {
                first.map(|f| f.message.clone()).unwrap_or_default()
            } else {
                e.message.clone()
            };
            (reason, message)
        }
        None => (
            String::new(),
            format!("HTTP {status}: {}", excerpt(body, QUOTE_BYTES)),
        ),
    };
    classify_reason(status, &reason, &message)
}

/// The one table from BigQuery's reasons and statuses to error classes.
/// BigQuery's messages can quote the data a query touched: only an excerpt
/// is kept.
fn classify_reason(status: u16, reason: &str, message: &str) -> WarehouseError {
    let message = excerpt(message, QUOTE_BYTES);
    match (reason, status) {
        ("rateLimitExceeded" | "quotaExceeded", _) | (_, 429) => {
            WarehouseError::RateLimited(message)
        }
        ("backendError" | "internalError", _) | (_, 500 | 502 | 503 | 504) => {
            WarehouseError::Backend(message)
        }
        ("resourcesExceeded", _) => WarehouseError::ResourcesExceeded(format!(
            "{message} (the query is valid; BigQuery could not run it within its resources. \
             A full read sorts the whole result by key: cluster the source table by the key, \
             or split the sync by key range; see docs/SCALING.md)"
        )),
        ("invalidQuery" | "invalid" | "notFound", _) | (_, 400 | 404) => {
            WarehouseError::InvalidQuery(message)
        }
        ("accessDenied", _) | (_, 401 | 403) => WarehouseError::Auth(message),
        ("timeout" | "jobBackendError", _) => WarehouseError::Backend(message),
        ("", _) => WarehouseError::Malformed(message),
        _ => WarehouseError::InvalidQuery(format!("{reason}: {message}")),
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
