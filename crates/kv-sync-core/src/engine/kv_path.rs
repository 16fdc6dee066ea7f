//! Which way a run writes to KV, when both are configured: the binding (one
//! operation a key, quick for a few keys, a lot of invocations for many) or
//! the bulk REST API (10,000 pairs a request, from a budget of 1,200
//! requests per 5 minutes that the token's syncs share). The run's size
//! decides, once, when its first page says how many rows there are.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvPath {
    Binding,
    Bulk,
}

/// The path a run takes, and why, in words for `/status` and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathChoice {
    pub path: KvPath,
    pub reason: String,
}

/// The path for a run of `total_rows` rows (unknown: the binding), with
/// the bulk API configured.
pub fn choose(total_rows: Option<u64>, bulk_min_rows: u64) -> PathChoice {
    match total_rows {
        Some(rows) if rows > bulk_min_rows => PathChoice {
            path: KvPath::Bulk,
            reason: format!("{rows} rows, more than BULK_MIN_ROWS ({bulk_min_rows}): the bulk API"),
        },
        Some(rows) => PathChoice {
            path: KvPath::Binding,
            reason: format!("{rows} rows, at most BULK_MIN_ROWS ({bulk_min_rows}): the binding"),
        },
        None => PathChoice {
            path: KvPath::Binding,
            reason: "the run's size is unknown: the binding".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_runs_take_the_bulk_api_and_small_ones_the_binding() {
        assert_eq!(choose(Some(100_000), 5_000).path, KvPath::Bulk);
        assert_eq!(choose(Some(5_001), 5_000).path, KvPath::Bulk);
        let small = choose(Some(3), 5_000);
        assert_eq!(small.path, KvPath::Binding);
        assert!(small.reason.contains("3 rows"), "{}", small.reason);
        assert_eq!(choose(Some(5_000), 5_000).path, KvPath::Binding);
        assert_eq!(choose(None, 5_000).path, KvPath::Binding);
        assert_eq!(
            choose(Some(1), 0).path,
            KvPath::Bulk,
            "BULK_MIN_ROWS = 0: always the bulk API"
        );
    }
}
