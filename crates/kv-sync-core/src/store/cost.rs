//! What runs cost, kept per hour of their end (`cost_hours`), so
//! `/status` sums 24 rows, not a day of runs.

use super::sql::{Sql, SqlRow};
use super::Store;
use crate::coordinator::policy::cost::{CostSums, RunCost};
use crate::engine::error::StoreError;
use crate::engine::time::{Micros, MICROS_PER_SECOND};
use crate::params;

const HOUR: Micros = 3_600 * MICROS_PER_SECOND;

impl<S: Sql> Store<S> {
    /// Adds an ended run's cost to its hour. Part of `record_end`'s
    /// transaction.
    pub(super) fn add_run_cost(&self, cost: &RunCost, now: Micros) -> Result<(), StoreError> {
        self.sql.execute(
            "INSERT INTO cost_hours (hour, runs, bytes_billed, bytes_processed, cache_hits, kv_writes,
                                     kv_deletes, kv_bulk_requests, rows_read, rows_written)
               VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (hour) DO UPDATE SET runs = runs + 1,
               bytes_billed = CASE WHEN ?2 IS NULL THEN bytes_billed ELSE COALESCE(bytes_billed, 0) + ?2 END,
               bytes_processed = CASE WHEN ?3 IS NULL THEN bytes_processed ELSE COALESCE(bytes_processed, 0) + ?3 END,
               cache_hits = cache_hits + ?4, kv_writes = kv_writes + ?5, kv_deletes = kv_deletes + ?6,
               kv_bulk_requests = kv_bulk_requests + ?7, rows_read = rows_read + ?8,
               rows_written = rows_written + ?9",
            params![
                now / HOUR,
                cost.bigquery_bytes_billed,
                cost.bigquery_bytes_processed,
                cost.bigquery_cache_hit == Some(true),
                cost.kv_writes,
                cost.kv_deletes,
                cost.kv_bulk_requests,
                cost.storage_rows_read,
                cost.storage_rows_written
            ],
        )?;
        // A day and an hour is all `/status` reads.
        self.sql.execute(
            "DELETE FROM cost_hours WHERE hour < ?",
            params![now / HOUR - 25],
        )
    }

    /// The runs that ended in the last 24 hours (by the hour), summed.
    pub fn cost_last_24h(&self, now: Micros) -> Result<CostSums, StoreError> {
        let rows = self.sql.query(
            "SELECT COALESCE(SUM(runs), 0) AS runs, SUM(bytes_billed) AS bytes_billed,
                    SUM(bytes_processed) AS bytes_processed, COALESCE(SUM(cache_hits), 0) AS cache_hits,
                    COALESCE(SUM(kv_writes), 0) AS kv_writes, COALESCE(SUM(kv_deletes), 0) AS kv_deletes,
                    COALESCE(SUM(kv_bulk_requests), 0) AS kv_bulk_requests,
                    COALESCE(SUM(rows_read), 0) AS rows_read, COALESCE(SUM(rows_written), 0) AS rows_written
               FROM cost_hours WHERE hour > ?",
            params![now / HOUR - 24],
        )?;
        rows.first().map_or_else(|| Ok(CostSums::default()), sums)
    }
}

fn sums(row: &SqlRow) -> Result<CostSums, StoreError> {
    Ok(CostSums {
        runs: row.get("runs")?,
        bigquery_bytes_billed: row.get("bytes_billed")?,
        bigquery_bytes_processed: row.get("bytes_processed")?,
        bigquery_cache_hit: row.get("cache_hits")?,
        kv_writes: row.get("kv_writes")?,
        kv_deletes: row.get("kv_deletes")?,
        kv_bulk_requests: row.get("kv_bulk_requests")?,
        storage_rows_read: row.get("rows_read")?,
        storage_rows_written: row.get("rows_written")?,
    })
}
