//! What a run cost, and what a day of them costs at list prices: the
//! counters BigQuery, KV and Durable Object storage bill by, put in one
//! shape for each Run and for `/status`'s last 24 hours.

use serde::Serialize;

use crate::engine::progress::RunCounters;
use crate::engine::spend::RunSpend;

/// The list prices the estimate uses (allowances ignored: an upper bound).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Prices {
    /// BigQuery on demand, per TiB billed.
    pub bigquery_usd_per_tib_billed: f64,
    /// Workers KV, per million writes and per million deletes.
    pub kv_usd_per_million_writes: f64,
    /// Durable Object SQLite storage, per million rows written.
    pub storage_usd_per_million_rows_written: f64,
    /// ... and per million rows read.
    pub storage_usd_per_million_rows_read: f64,
}

pub const LIST_PRICES: Prices = Prices {
    bigquery_usd_per_tib_billed: 6.25,
    kv_usd_per_million_writes: 5.00,
    storage_usd_per_million_rows_written: 1.00,
    storage_usd_per_million_rows_read: 0.001,
};

/// A Run's `cost`: what it was billed by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunCost {
    pub bigquery_bytes_billed: Option<u64>,
    pub bigquery_bytes_processed: Option<u64>,
    pub bigquery_cache_hit: Option<bool>,
    pub kv_writes: u64,
    pub kv_deletes: u64,
    pub kv_bulk_requests: u64,
    pub storage_rows_read: u64,
    pub storage_rows_written: u64,
}

impl RunCost {
    pub fn of(spend: &RunSpend, counters: &RunCounters) -> Self {
        RunCost {
            bigquery_bytes_billed: spend.bigquery_bytes_billed,
            bigquery_bytes_processed: spend.bigquery_bytes_processed,
            bigquery_cache_hit: spend.bigquery_cache_hit,
            kv_writes: counters.rows_written,
            // Keys deleted because they left the source are deletes too.
            kv_deletes: counters.rows_deleted + counters.rows_orphaned,
            kv_bulk_requests: spend.kv_bulk_requests,
            storage_rows_read: spend.storage_rows_read,
            storage_rows_written: spend.storage_rows_written,
        }
    }
}

/// The runs of a period, summed (`bigquery_cache_hit`: how many runs
/// BigQuery's cache answered).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CostSums {
    pub runs: u64,
    pub bigquery_bytes_billed: Option<u64>,
    pub bigquery_bytes_processed: Option<u64>,
    pub bigquery_cache_hit: u64,
    pub kv_writes: u64,
    pub kv_deletes: u64,
    pub kv_bulk_requests: u64,
    pub storage_rows_read: u64,
    pub storage_rows_written: u64,
}

/// `/status`'s `cost`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostView {
    pub last_24h: CostSums,
    /// The last 24 hours at `prices`, in US dollars (not rounded).
    pub estimated_usd_per_day: f64,
    pub prices: Prices,
}

const TIB: f64 = (1u64 << 40) as f64;
const MILLION: f64 = 1_000_000.0;

impl CostView {
    pub fn of(last_24h: CostSums) -> Self {
        let p = LIST_PRICES;
        let s = &last_24h;
        let usd = s.bigquery_bytes_billed.unwrap_or(0) as f64 / TIB * p.bigquery_usd_per_tib_billed
            + (s.kv_writes + s.kv_deletes) as f64 / MILLION * p.kv_usd_per_million_writes
            + s.storage_rows_written as f64 / MILLION * p.storage_usd_per_million_rows_written
            + s.storage_rows_read as f64 / MILLION * p.storage_usd_per_million_rows_read;
        CostView {
            last_24h,
            estimated_usd_per_day: usd,
            prices: p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_priced_at_list_prices() {
        let day = CostSums {
            runs: 8_640,
            bigquery_bytes_billed: Some(1 << 40),
            kv_writes: 600_000,
            kv_deletes: 400_000,
            storage_rows_written: 2_000_000,
            storage_rows_read: 1_000_000,
            ..CostSums::default()
        };
        let view = CostView::of(day);
        assert!((view.estimated_usd_per_day - (6.25 + 5.0 + 2.0 + 0.001)).abs() < 1e-9);
        assert_eq!(CostView::of(CostSums::default()).estimated_usd_per_day, 0.0);
    }

    #[test]
    fn keys_deleted_because_they_left_the_source_are_kv_deletes() {
        let counters = RunCounters {
            rows_deleted: 2,
            rows_orphaned: 3,
            ..RunCounters::default()
        };
        assert_eq!(RunCost::of(&RunSpend::default(), &counters).kv_deletes, 5);
    }
}
