//! What a run spent beyond its row counters: BigQuery's own figures for
//! each job, the KV bulk requests and the storage rows its invocations
//! read and wrote. Summed across invocations in the run's checkpoint.

use serde::{Deserialize, Serialize};

/// What BigQuery reported for one job (`totalBytesBilled`,
/// `totalBytesProcessed`, `cacheHit`); `None` where it did not say, as the
/// emulator does not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCost {
    pub bytes_billed: Option<u64>,
    pub bytes_processed: Option<u64>,
    pub cache_hit: Option<bool>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpend {
    pub bigquery_bytes_billed: Option<u64>,
    pub bigquery_bytes_processed: Option<u64>,
    /// Whether every job of the run was answered from BigQuery's cache.
    pub bigquery_cache_hit: Option<bool>,
    pub kv_bulk_requests: u64,
    pub storage_rows_read: u64,
    pub storage_rows_written: u64,
}

/// `a + b` where either may be unknown: unknown only when both are.
fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

impl RunSpend {
    /// Adds one job's figures.
    pub fn add_job(&mut self, job: JobCost) {
        self.bigquery_bytes_billed = add(self.bigquery_bytes_billed, job.bytes_billed);
        self.bigquery_bytes_processed = add(self.bigquery_bytes_processed, job.bytes_processed);
        self.bigquery_cache_hit = match (self.bigquery_cache_hit, job.cache_hit) {
            (None, hit) | (hit, None) => hit,
            (Some(a), Some(b)) => Some(a && b),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_add_up_and_what_bigquery_never_said_stays_unknown() {
        let mut spend = RunSpend::default();
        spend.add_job(JobCost::default());
        assert_eq!(spend, RunSpend::default());
        spend.add_job(JobCost {
            bytes_billed: Some(10_485_760),
            bytes_processed: Some(2_000),
            cache_hit: Some(false),
        });
        spend.add_job(JobCost {
            bytes_billed: Some(0),
            bytes_processed: None,
            cache_hit: Some(true),
        });
        assert_eq!(spend.bigquery_bytes_billed, Some(10_485_760));
        assert_eq!(spend.bigquery_bytes_processed, Some(2_000));
        assert_eq!(
            spend.bigquery_cache_hit,
            Some(false),
            "not every job was a hit"
        );
    }
}
