//! What a finished job cost, from `jobs.get`: `getQueryResults` reports the
//! bytes a job processed but never the bytes it billed, so a job that was
//! still running when `jobs.query` answered has its bill only here
//! (`statistics.query.totalBytesBilled`, an int64 sent as a string).

use serde::Deserialize;

use crate::engine::error::WarehouseError;
use crate::engine::excerpt::excerpt;
use crate::engine::spend::JobCost;

#[derive(Deserialize)]
struct JobBody {
    #[serde(default)]
    statistics: Statistics,
}

#[derive(Default, Deserialize)]
struct Statistics {
    #[serde(default)]
    query: QueryStatistics,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryStatistics {
    total_bytes_billed: Option<String>,
    total_bytes_processed: Option<String>,
    cache_hit: Option<bool>,
}

/// Reads a `jobs.get` answer into the job's cost; `None` fields are what
/// BigQuery did not report.
pub(crate) fn job_cost(status: u16, body: &str) -> Result<JobCost, WarehouseError> {
    let unreadable =
        |why: String| WarehouseError::Malformed(format!("jobs.get {why}: {}", excerpt(body, 200)));
    if !(200..300).contains(&status) {
        return Err(WarehouseError::Backend(format!(
            "jobs.get answered HTTP {status}: {}",
            excerpt(body, 200)
        )));
    }
    let job: JobBody = serde_json::from_str(body).map_err(|e| unreadable(e.to_string()))?;
    let q = job.statistics.query;
    let number = |text: Option<String>, name: &str| {
        text.map(|t| t.parse::<u64>())
            .transpose()
            .map_err(|_| unreadable(format!("{name} is not a count")))
    };
    Ok(JobCost {
        bytes_billed: number(q.total_bytes_billed, "totalBytesBilled")?,
        bytes_processed: number(q.total_bytes_processed, "totalBytesProcessed")?,
        cache_hit: q.cache_hit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_job_reports_what_it_billed() {
        let body = r#"{"id":"p:US.j","statistics":{"query":{"totalBytesBilled":"10485760",
            "totalBytesProcessed":"1234","cacheHit":false}}}"#;
        assert_eq!(
            job_cost(200, body),
            Ok(JobCost {
                bytes_billed: Some(10_485_760),
                bytes_processed: Some(1_234),
                cache_hit: Some(false),
            })
        );
    }

    #[test]
    fn what_bigquery_does_not_report_stays_unknown_and_garbage_is_an_error() {
        assert_eq!(job_cost(200, r#"{"id":"p:US.j"}"#), Ok(JobCost::default()));
        let bad = r#"{"statistics":{"query":{"totalBytesBilled":"lots"}}}"#;
        assert!(matches!(
            job_cost(200, bad),
            Err(WarehouseError::Malformed(m)) if m.contains("totalBytesBilled")
        ));
        assert!(matches!(
            job_cost(404, "{}"),
            Err(WarehouseError::Backend(_))
        ));
    }
}
