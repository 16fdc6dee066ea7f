//! Run-time configuration, parsed from the Worker's string variables.
//!
//! Wrangler passes every var as a string; a typo such as
//! `SYNC_INTERVAL_SECONDS = "5m"` must be reported by name, not silently
//! replaced by a default, so parsing returns a `ConfigError` naming the var.

use std::fmt;

/// The default source query, used when `SYNC_QUERY` is not set.
pub const DEFAULT_QUERY: &str = include_str!("../../sql/default_query.sql");

#[derive(Clone, Debug, PartialEq)]
pub struct SyncConfig {
    pub project_id: Option<String>,
    pub location: String,
    pub api_base: String,
    pub query: String,
    pub interval_seconds: u64,
    pub lookback_seconds: u64,
    pub page_rows: u32,
    pub max_kv_writes_per_invocation: u32,
    pub invocation_budget_ms: u64,
    pub kv_expiration_ttl_seconds: u64,
    /// How long a query job may stay `jobComplete: false` before the run
    /// fails with a timeout (and the next run starts a new job).
    pub job_timeout_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "configuration error: {} = {:?}: {}",
            self.var, self.value, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

impl SyncConfig {
    /// Reads every setting through `var`, which returns a Worker var's value.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let query = match text("SYNC_QUERY") {
            Some(q) => q,
            None => DEFAULT_QUERY.to_string(),
        };
        Ok(SyncConfig {
            project_id: text("BIGQUERY_PROJECT_ID"),
            location: text("BIGQUERY_LOCATION").unwrap_or_else(|| "US".into()),
            api_base: text("BIGQUERY_API_BASE")
                .unwrap_or_else(|| "https://bigquery.googleapis.com".into())
                .trim_end_matches('/')
                .to_string(),
            query,
            interval_seconds: number(&text, "SYNC_INTERVAL_SECONDS", 300, 1)?,
            lookback_seconds: number(&text, "SYNC_LOOKBACK_SECONDS", 600, 0)?,
            page_rows: number(&text, "BIGQUERY_PAGE_ROWS", 10_000, 1)? as u32,
            max_kv_writes_per_invocation: number(&text, "MAX_KV_WRITES_PER_INVOCATION", 1_000, 1)?
                as u32,
            invocation_budget_ms: number(&text, "INVOCATION_BUDGET_MS", 25_000, 100)?,
            kv_expiration_ttl_seconds: ttl(&text)?,
            job_timeout_seconds: number(&text, "BIGQUERY_JOB_TIMEOUT_SECONDS", 600, 1)?,
        })
    }
}

fn number(
    text: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
) -> Result<u64, ConfigError> {
    let Some(value) = text(var) else {
        return Ok(default);
    };
    match value.parse::<u64>() {
        Ok(n) if n >= min && n <= u32::MAX as u64 => Ok(n),
        Ok(_) if min > 0 => Err(ConfigError {
            var,
            value,
            reason: "must be a whole number of at least 1 (or 100 for INVOCATION_BUDGET_MS) and at most 4294967295",
        }),
        _ => Err(ConfigError {
            var,
            value,
            reason: "must be a whole number, e.g. \"300\"",
        }),
    }
}

/// KV rejects an `expirationTtl` under 60 seconds, so that is refused here
/// rather than on every write.
fn ttl(text: &impl Fn(&str) -> Option<String>) -> Result<u64, ConfigError> {
    let ttl = number(text, "KV_EXPIRATION_TTL_SECONDS", 0, 0)?;
    if ttl != 0 && ttl < 60 {
        return Err(ConfigError {
            var: "KV_EXPIRATION_TTL_SECONDS",
            value: ttl.to_string(),
            reason: "Workers KV needs an expirationTtl of at least 60 seconds (0 disables expiry)",
        });
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<SyncConfig, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SyncConfig::from_vars(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_follow_the_spec() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.interval_seconds, 300);
        assert_eq!(c.lookback_seconds, 600);
        assert_eq!(c.page_rows, 10_000);
        assert_eq!(c.max_kv_writes_per_invocation, 1_000);
        assert_eq!(c.invocation_budget_ms, 25_000);
        assert_eq!(c.kv_expiration_ttl_seconds, 0);
        assert_eq!(c.location, "US");
        assert_eq!(c.api_base, "https://bigquery.googleapis.com");
        assert_eq!(c.query, DEFAULT_QUERY);
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let e = parse(&[("SYNC_INTERVAL_SECONDS", "5m")]).unwrap_err();
        assert_eq!(e.var, "SYNC_INTERVAL_SECONDS");
        assert!(e.to_string().contains("\"5m\""));
        assert!(parse(&[("KV_EXPIRATION_TTL_SECONDS", "30")]).is_err());
        assert!(parse(&[("BIGQUERY_PAGE_ROWS", "0")]).is_err());
    }

    #[test]
    fn overrides_apply() {
        let c = parse(&[
            ("SYNC_QUERY", "SELECT 1"),
            ("BIGQUERY_API_BASE", "http://127.0.0.1:9050/"),
            ("MAX_KV_WRITES_PER_INVOCATION", "50"),
        ])
        .unwrap();
        assert_eq!(c.query, "SELECT 1");
        assert_eq!(c.api_base, "http://127.0.0.1:9050");
        assert_eq!(c.max_kv_writes_per_invocation, 50);
    }
}
