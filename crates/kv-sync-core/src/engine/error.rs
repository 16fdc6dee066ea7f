//! Errors at each boundary of the engine, and the one table that says what a
//! run does about each.
//!
//! Every error ends the invocation with the last checkpoint intact; what
//! differs is whether a quick retry inside the same invocation can help
//! (`Retry::Soon`: rate limits, overloaded backends, dropped connections),
//! whether the engine has its own way round it (`Retry::Requery`: expired
//! results are read again through a new job), or only a later run can
//! (`Retry::NextRun`: a bad query or bad credentials stay bad until someone
//! changes them, so hammering BigQuery would only add cost). Adapters ask
//! this table; they keep no list of their own.

use std::fmt;

use crate::settings::ConfigError;

/// What went wrong talking to the warehouse (BigQuery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarehouseError {
    /// The SQL was rejected (`invalidQuery`, unknown table, bad parameter).
    InvalidQuery(String),
    /// The query is valid but BigQuery ran out of resources for it
    /// (`resourcesExceeded`: a full read sorts the whole result by key).
    ResourcesExceeded(String),
    /// Credentials missing, wrong, or lacking permission (401/403).
    Auth(String),
    /// `rateLimitExceeded`, `quotaExceeded` or HTTP 429.
    RateLimited(String),
    /// BigQuery's side failed (500/502/503 `backendError`).
    Backend(String),
    /// The job did not finish within its deadline.
    Timeout(String),
    /// A response that is not the JSON BigQuery documents.
    Malformed(String),
    /// No answer at all: DNS, connection refused, reset.
    Unreachable(String),
    /// The job or its results no longer exist (results expire after ~24 h);
    /// the run re-queries from its last position.
    ResultsExpired(String),
}

/// What went wrong writing to KV.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkError {
    /// 429 or KV's per-key write rate; try again later.
    RateLimited(String),
    /// A transient failure (5xx, network); try again later.
    Unavailable(String),
    /// KV refused this one write for good (e.g. 400); the row is quarantined.
    Rejected(String),
}

/// What went wrong in the coordinator's own storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// Another invocation holds the run lease now: this one must stop
    /// without writing anything more.
    LeaseLost {
        fence: u64,
    },
    Storage(String),
}

/// Why an invocation of a run stopped short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    /// A setting is missing or unusable: nothing can run until it is fixed.
    Config(ConfigError),
    Warehouse(WarehouseError),
    Sink(SinkError),
    Store(StoreError),
}

/// The retry policy of an error class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Transient: worth a few quick retries inside the invocation, then a run
    /// retry with backoff.
    Soon,
    /// The engine recovers by itself (a new job from the last position); an
    /// adapter must hand it back at once instead of retrying the call.
    Requery,
    /// Persistent until a person acts: no quick retries, the run fails and
    /// is retried with backoff.
    NextRun,
    /// Not an error of this run: another holder owns it.
    Never,
}

impl RunError {
    /// The short class name users see first in `/status` (BigQuery's own
    /// reason names where one exists).
    pub fn class(&self) -> &'static str {
        match self {
            RunError::Config(_) => "configuration",
            RunError::Warehouse(e) => e.class(),
            RunError::Sink(e) => match e {
                SinkError::RateLimited(_) => "kvRateLimited",
                SinkError::Unavailable(_) => "kvUnavailable",
                SinkError::Rejected(_) => "kvRejected",
            },
            RunError::Store(e) => match e {
                StoreError::LeaseLost { .. } => "leaseLost",
                StoreError::Storage(_) => "storage",
            },
        }
    }

    pub fn retry(&self) -> Retry {
        match self {
            RunError::Config(_) => Retry::NextRun,
            RunError::Warehouse(e) => e.retry(),
            RunError::Sink(SinkError::Rejected(_)) => Retry::NextRun,
            RunError::Sink(_) => Retry::Soon,
            RunError::Store(StoreError::LeaseLost { .. }) => Retry::Never,
            RunError::Store(StoreError::Storage(_)) => Retry::NextRun,
        }
    }
}

impl WarehouseError {
    pub fn retry(&self) -> Retry {
        match self {
            WarehouseError::RateLimited(_)
            | WarehouseError::Backend(_)
            | WarehouseError::Unreachable(_) => Retry::Soon,
            WarehouseError::ResultsExpired(_) => Retry::Requery,
            WarehouseError::InvalidQuery(_)
            | WarehouseError::ResourcesExceeded(_)
            | WarehouseError::Auth(_)
            | WarehouseError::Timeout(_)
            | WarehouseError::Malformed(_) => Retry::NextRun,
        }
    }

    pub fn class(&self) -> &'static str {
        match self {
            WarehouseError::InvalidQuery(_) => "invalidQuery",
            WarehouseError::ResourcesExceeded(_) => "resourcesExceeded",
            WarehouseError::Auth(_) => "auth",
            WarehouseError::RateLimited(_) => "rateLimitExceeded",
            WarehouseError::Backend(_) => "backendError",
            WarehouseError::Timeout(_) => "timeout",
            WarehouseError::Malformed(_) => "malformedResponse",
            WarehouseError::Unreachable(_) => "bigqueryUnreachable",
            WarehouseError::ResultsExpired(_) => "resultsExpired",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            WarehouseError::InvalidQuery(m)
            | WarehouseError::ResourcesExceeded(m)
            | WarehouseError::Auth(m)
            | WarehouseError::RateLimited(m)
            | WarehouseError::Backend(m)
            | WarehouseError::Timeout(m)
            | WarehouseError::Malformed(m)
            | WarehouseError::Unreachable(m)
            | WarehouseError::ResultsExpired(m) => m,
        }
    }
}

impl SinkError {
    /// A failure that a later attempt may not meet: the cursor waits.
    pub fn is_transient(&self) -> bool {
        matches!(self, SinkError::RateLimited(_) | SinkError::Unavailable(_))
    }

    pub fn message(&self) -> &str {
        match self {
            SinkError::RateLimited(m) | SinkError::Unavailable(m) | SinkError::Rejected(m) => m,
        }
    }
}

impl fmt::Display for WarehouseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BigQuery: {}", self.message())
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KV: {}", self.message())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::LeaseLost { fence } => {
                write!(f, "run lease {fence} was taken over by another invocation")
            }
            StoreError::Storage(m) => write!(f, "coordinator storage: {m}"),
        }
    }
}

impl std::error::Error for WarehouseError {}
impl std::error::Error for SinkError {}
impl std::error::Error for StoreError {}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail: &dyn fmt::Display = match self {
            RunError::Config(e) => e,
            RunError::Warehouse(e) => e,
            RunError::Sink(e) => e,
            RunError::Store(e) => e,
        };
        write!(f, "{}: {detail}", self.class())
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(match self {
            RunError::Config(e) => e,
            RunError::Warehouse(e) => e,
            RunError::Sink(e) => e,
            RunError::Store(e) => e,
        })
    }
}

impl From<ConfigError> for RunError {
    fn from(e: ConfigError) -> Self {
        RunError::Config(e)
    }
}

impl From<WarehouseError> for RunError {
    fn from(e: WarehouseError) -> Self {
        RunError::Warehouse(e)
    }
}

impl From<SinkError> for RunError {
    fn from(e: SinkError) -> Self {
        RunError::Sink(e)
    }
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        RunError::Store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of every class a run can end with.
    fn every_class() -> Vec<RunError> {
        let text = || "x".to_string();
        vec![
            RunError::Config(ConfigError::invalid("SYNC_QUERY", "x", "x")),
            WarehouseError::InvalidQuery(text()).into(),
            WarehouseError::Auth(text()).into(),
            WarehouseError::RateLimited(text()).into(),
            WarehouseError::Backend(text()).into(),
            WarehouseError::Timeout(text()).into(),
            WarehouseError::Malformed(text()).into(),
            WarehouseError::Unreachable(text()).into(),
            WarehouseError::ResultsExpired(text()).into(),
            RunError::Sink(SinkError::RateLimited(text())),
            RunError::Sink(SinkError::Unavailable(text())),
            RunError::Sink(SinkError::Rejected(text())),
            StoreError::LeaseLost { fence: 3 }.into(),
            StoreError::Storage(text()).into(),
        ]
    }

    #[test]
    fn the_dashboard_explains_every_class_a_run_can_fail_with() {
        let script = include_str!("../../../../src/dashboard/status_words.js");
        for e in every_class() {
            let class = e.class();
            let words = format!("    {class}: \"");
            assert!(
                script.contains(&words),
                "src/dashboard/status_words.js has no words for {class}"
            );
            assert!(e.to_string().starts_with(&format!("{class}: ")), "{e}");
        }
    }
}
