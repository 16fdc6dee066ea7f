//! The limits one invocation of a run works within, from the configuration.

use super::config::SyncConfig;
use super::time::{Micros, MICROS_PER_MILLI, MICROS_PER_SECOND};

/// The limits one invocation works within.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLimits {
    pub max_kv_writes: u32,
    pub budget: Micros,
    /// How long the lease outlives the holder's last checkpoint.
    pub lease_ttl: Micros,
    /// How long a query job may stay `jobComplete: false`.
    pub query_deadline: Micros,
    pub batch_rows: usize,
    pub page_rows: u32,
    /// With a KV TTL, unchanged values older than this are written again.
    pub refresh_after: Option<Micros>,
}

impl RunLimits {
    pub fn from_config(config: &SyncConfig) -> Self {
        let budget = config.invocation_budget_ms as Micros * MICROS_PER_MILLI;
        RunLimits {
            max_kv_writes: config.max_kv_writes_per_invocation,
            budget,
            // Generous, so a slow but live holder is never taken over; short
            // enough that a dead one is replaced within a minute or two.
            lease_ttl: budget * 2 + 5 * MICROS_PER_SECOND,
            query_deadline: config.job_timeout_seconds as Micros * MICROS_PER_SECOND,
            batch_rows: 500,
            page_rows: config.page_rows,
            refresh_after: (config.kv_expiration_ttl_seconds > 0)
                .then(|| config.kv_expiration_ttl_seconds as Micros * MICROS_PER_SECOND / 2),
        }
    }
}
