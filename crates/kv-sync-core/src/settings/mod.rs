//! A sync's settings, parsed from the Worker's string variables.
//!
//! Wrangler passes every var as a string; a typo such as
//! `SYNC_INTERVAL_SECONDS = "5m"` must be reported by name, not silently
//! replaced by a default, so parsing returns a `ConfigError` naming the var.
//! Defaults and bounds come from the one settings table (`table`).

use std::fmt;

pub(crate) mod deployment;
pub mod push;
pub mod syncs;
pub mod table;

use table::{default_number, of};

/// The default source query, used when `SYNC_QUERY` is not set.
pub const DEFAULT_QUERY: &str = include_str!("../../../../sql/default_query.sql");

#[derive(Clone, Debug, PartialEq)]
pub struct SyncConfig {
    pub query: String,
    pub interval_seconds: u64,
    pub lookback_seconds: u64,
    pub page_rows: u32,
    /// KV requests one invocation may make (a binding put, or one bulk
    /// call): `MAX_KV_WRITES_PER_INVOCATION`.
    pub max_kv_writes_per_invocation: u32,
    pub invocation_budget_ms: u64,
    pub kv_expiration_ttl_seconds: u64,
    /// How long a query job may stay unfinished before the run fails with a
    /// timeout (and the next run starts a new job).
    pub job_timeout_seconds: u64,
    /// Time between full runs (which delete keys that left the source);
    /// 0 = only when asked for.
    pub full_sync_interval_seconds: u64,
    /// A full run deletes nothing when more than this share of the keys it
    /// holds left the source, unless asked with `allow_mass_delete`.
    pub reconcile_max_delete_percent: u64,
    /// Consecutive failed runs before a `failing` alert.
    pub alert_after_failures: u32,
    /// Staleness (seconds since the last success) before a `stale` alert.
    pub alert_staleness_seconds: u64,
    /// With the KV bulk API configured, a run of more rows than this writes
    /// through it; smaller runs write through the binding.
    pub bulk_min_rows: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        let small = |var: &str| u32::try_from(default_number(var)).expect("small defaults fit");
        SyncConfig {
            query: DEFAULT_QUERY.to_string(),
            interval_seconds: default_number("SYNC_INTERVAL_SECONDS"),
            lookback_seconds: default_number("SYNC_LOOKBACK_SECONDS"),
            page_rows: small("BIGQUERY_PAGE_ROWS"),
            max_kv_writes_per_invocation: small("MAX_KV_WRITES_PER_INVOCATION"),
            invocation_budget_ms: default_number("INVOCATION_BUDGET_MS"),
            kv_expiration_ttl_seconds: default_number("KV_EXPIRATION_TTL_SECONDS"),
            job_timeout_seconds: default_number("BIGQUERY_JOB_TIMEOUT_SECONDS"),
            full_sync_interval_seconds: default_number("FULL_SYNC_INTERVAL_SECONDS"),
            reconcile_max_delete_percent: default_number("RECONCILE_MAX_DELETE_PERCENT"),
            alert_after_failures: small("ALERT_AFTER_FAILURES"),
            alert_staleness_seconds: default_number("ALERT_STALENESS_SECONDS"),
            // A run of up to 5,000 rows takes at most five invocations of
            // 1,000 binding writes, each a few seconds; through the bulk API
            // it would spend one of the token's 1,200 requests per 5
            // minutes, shared by every sync, for a slower round trip per
            // write. Above it, the binding needs many invocations while one
            // bulk request carries 10,000 pairs.
            bulk_min_rows: default_number("BULK_MIN_ROWS"),
        }
    }
}

/// A setting that cannot be used, named so a person can fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub var: String,
    /// The value given, or `None` for a setting that is missing.
    pub value: Option<String>,
    pub reason: String,
}

impl ConfigError {
    pub fn invalid(var: &str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError {
            var: var.to_string(),
            value: Some(value.into()),
            reason: reason.into(),
        }
    }

    pub fn missing(var: &str, reason: impl Into<String>) -> Self {
        ConfigError {
            var: var.to_string(),
            value: None,
            reason: format!("is not set: {}", reason.into()),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{} = {value:?}: {}", self.var, self.reason),
            None => write!(f, "{} {}", self.var, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads Worker vars through a lookup function, trimmed, empty as unset.
pub struct Vars<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    pub fn text(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A whole number within the setting's `min..=u32::MAX`, or its
    /// default when unset (both from the settings table).
    pub fn number(&self, name: &str) -> Result<u64, ConfigError> {
        let min = of(name).min;
        let Some(value) = self.text(name) else {
            return Ok(default_number(name));
        };
        let reason = match value.parse::<u64>() {
            Ok(n) if (min..=u64::from(u32::MAX)).contains(&n) => return Ok(n),
            Ok(_) => format!("must be a whole number from {min} to {}", u32::MAX),
            Err(_) => "must be a whole number, e.g. \"300\"".to_string(),
        };
        Err(ConfigError::invalid(name, value, reason))
    }
}

impl SyncConfig {
    /// Reads every setting through `var`, which returns a Worker var's value.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(var);
        let small = |name: &str| -> Result<u32, ConfigError> {
            let n = vars.number(name)?;
            Ok(u32::try_from(n).expect("number() caps at u32::MAX"))
        };
        Ok(SyncConfig {
            query: vars
                .text("SYNC_QUERY")
                .unwrap_or_else(|| DEFAULT_QUERY.to_string()),
            interval_seconds: vars.number("SYNC_INTERVAL_SECONDS")?,
            lookback_seconds: vars.number("SYNC_LOOKBACK_SECONDS")?,
            page_rows: small("BIGQUERY_PAGE_ROWS")?,
            max_kv_writes_per_invocation: small("MAX_KV_WRITES_PER_INVOCATION")?,
            invocation_budget_ms: vars.number("INVOCATION_BUDGET_MS")?,
            kv_expiration_ttl_seconds: ttl(&vars)?,
            job_timeout_seconds: vars.number("BIGQUERY_JOB_TIMEOUT_SECONDS")?,
            full_sync_interval_seconds: vars.number("FULL_SYNC_INTERVAL_SECONDS")?,
            reconcile_max_delete_percent: percent(&vars)?,
            alert_after_failures: small("ALERT_AFTER_FAILURES")?,
            alert_staleness_seconds: vars.number("ALERT_STALENESS_SECONDS")?,
            bulk_min_rows: vars.number("BULK_MIN_ROWS")?,
        })
    }
}

fn percent<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<u64, ConfigError> {
    let var = "RECONCILE_MAX_DELETE_PERCENT";
    let percent = vars.number(var)?;
    if percent > 100 {
        return Err(ConfigError::invalid(
            var,
            percent.to_string(),
            "must be a percentage from 0 to 100",
        ));
    }
    Ok(percent)
}

/// KV rejects an `expirationTtl` under 60 seconds, so that is refused here
/// rather than on every write.
fn ttl<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<u64, ConfigError> {
    let var = "KV_EXPIRATION_TTL_SECONDS";
    let ttl = vars.number(var)?;
    if ttl != 0 && ttl < 60 {
        return Err(ConfigError::invalid(
            var,
            ttl.to_string(),
            "Workers KV needs an expirationTtl of at least 60 seconds (0 disables expiry)",
        ));
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
        assert_eq!(c, SyncConfig::default());
        assert_eq!(c.interval_seconds, 300);
        assert_eq!(c.lookback_seconds, 600);
        assert_eq!(c.page_rows, 10_000);
        assert_eq!(c.max_kv_writes_per_invocation, 1_000);
        assert_eq!(c.invocation_budget_ms, 25_000);
        assert_eq!(c.kv_expiration_ttl_seconds, 0);
        assert_eq!(c.full_sync_interval_seconds, 86_400);
        assert_eq!(c.reconcile_max_delete_percent, 20);
        assert_eq!(
            (c.alert_after_failures, c.alert_staleness_seconds),
            (3, 1_800)
        );
        assert_eq!(c.query, DEFAULT_QUERY);
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let e = parse(&[("SYNC_INTERVAL_SECONDS", "5m")]).unwrap_err();
        assert_eq!(e.var, "SYNC_INTERVAL_SECONDS");
        assert!(e.to_string().contains("\"5m\""));
        assert!(parse(&[("KV_EXPIRATION_TTL_SECONDS", "30")]).is_err());
        let e = parse(&[("BIGQUERY_PAGE_ROWS", "0")]).unwrap_err();
        assert!(e.reason.contains("from 1"), "{e}");
        assert!(parse(&[("INVOCATION_BUDGET_MS", "99")]).is_err());
        assert!(parse(&[("SYNC_LOOKBACK_SECONDS", "0")]).is_ok());
        assert!(parse(&[("FULL_SYNC_INTERVAL_SECONDS", "0")]).is_ok());
        let e = parse(&[("RECONCILE_MAX_DELETE_PERCENT", "120")]).unwrap_err();
        assert_eq!(e.var, "RECONCILE_MAX_DELETE_PERCENT");
    }

    #[test]
    fn overrides_apply() {
        let c = parse(&[
            ("SYNC_QUERY", "SELECT 1"),
            ("MAX_KV_WRITES_PER_INVOCATION", " 50 "),
        ])
        .unwrap();
        assert_eq!(c.query, "SELECT 1");
        assert_eq!(c.max_kv_writes_per_invocation, 50);
    }
}
