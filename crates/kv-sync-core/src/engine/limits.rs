//! The limits one invocation of a run works within, from the configuration.

use super::time::{Micros, MICROS_PER_MILLI, MICROS_PER_SECOND};
use crate::settings::SyncConfig;

/// Rows planned and written together, then checkpointed: small enough that a
/// crash repeats little, large enough that a checkpoint per batch costs
/// little. A sink that carries more operations per request (the bulk API)
/// gets batches of a whole request.
const BATCH_ROWS: usize = 500;

/// How far ahead of the present the cursor may go: a row stamped later than
/// this is written, but the cursor waits for the clock, so it never hides
/// the rows that change meanwhile.
pub const CLOCK_SKEW: Micros = 60 * MICROS_PER_SECOND;

/// The most a page asked for should weigh: 16 MiB. BigQuery itself ends a
/// page at about 10 MB; this bound is for sources that do not, so that the
/// page being written, the page read ahead and a bulk request body stay
/// well inside the isolate's 128 MB.
pub const PAGE_BYTES: u64 = 16 * 1024 * 1024;

/// What a row is taken to weigh before a page has shown it. Rows of up to
/// this size come in full pages of 10,000 from the first page on (so a bulk
/// import fills every request); larger rows make the next page smaller once
/// the first has shown their size.
pub const ROW_BYTES_GUESS: u64 = 1024;

/// How long any outbound request may take, answer body included (the
/// `Runtime` abandons it then). The run lease outlives a holder's budget by
/// more than this, so a request the holder starts before its budget ends is
/// answered or abandoned before another invocation may take the run over.
pub const REQUEST_TIMEOUT: Micros = 30 * MICROS_PER_SECOND;

/// The limits one invocation works within.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLimits {
    /// KV requests (a binding operation, or one bulk call).
    pub max_kv_requests: u32,
    pub budget: Micros,
    /// How long the lease outlives the holder's last checkpoint.
    pub lease_ttl: Micros,
    /// How long a query job may stay `jobComplete: false`.
    pub query_deadline: Micros,
    pub batch_rows: usize,
    pub page_rows: u32,
    /// With a KV TTL, unchanged values older than this are written again
    /// (by the full read that comes every half TTL).
    pub refresh_after: Option<Micros>,
    /// A full run deletes nothing when more than this share (percent) of
    /// the keys kv-sync holds left the source.
    pub max_delete_percent: u64,
    /// Runs of more rows than this write through the bulk API when the
    /// sink offers it.
    pub bulk_min_rows: u64,
    /// A page asked for is about this many bytes at most (with the page
    /// read ahead and the values in flight, memory stays well under the
    /// isolate's 128 MB).
    pub page_bytes: u64,
}

impl RunLimits {
    pub fn from_config(config: &SyncConfig) -> Self {
        let budget = Micros::try_from(config.invocation_budget_ms).unwrap_or(Micros::MAX / 4)
            * MICROS_PER_MILLI;
        let seconds = |s: u64| Micros::try_from(s).unwrap_or(Micros::MAX / 4) * MICROS_PER_SECOND;
        RunLimits {
            max_kv_requests: config.max_kv_writes_per_invocation,
            budget,
            // Generous, so a slow but live holder is never taken over (a
            // request it starts as its budget ends has its answer, or is
            // abandoned, before the lease lapses); short enough that a dead
            // one is replaced within a minute or two.
            lease_ttl: budget * 2 + REQUEST_TIMEOUT + 5 * MICROS_PER_SECOND,
            query_deadline: seconds(config.job_timeout_seconds),
            batch_rows: BATCH_ROWS,
            page_rows: config.page_rows,
            // A full read comes every half TTL; a value it does not rewrite
            // (younger than a quarter TTL) still has more than a quarter
            // TTL to live when the next one comes, whatever the alarm's
            // and the run's delays.
            refresh_after: (config.kv_expiration_ttl_seconds > 0)
                .then(|| seconds(config.kv_expiration_ttl_seconds) / 4),
            max_delete_percent: config.reconcile_max_delete_percent,
            bulk_min_rows: config.bulk_min_rows,
            page_bytes: PAGE_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_started_as_the_budget_ends_is_over_before_the_lease_lapses() {
        for budget_ms in [100, 1_500, 25_000, 120_000] {
            let config = SyncConfig {
                invocation_budget_ms: budget_ms,
                ..SyncConfig::default()
            };
            let limits = RunLimits::from_config(&config);
            assert!(
                limits.lease_ttl > limits.budget + REQUEST_TIMEOUT,
                "budget {budget_ms} ms: lease {} µs",
                limits.lease_ttl
            );
        }
    }
}
