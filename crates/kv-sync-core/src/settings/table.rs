//! Every setting kv-sync reads from the Worker's vars, once: its var name,
//! the `SYNCS` field that overrides it for one sync, its default, the least
//! value it takes and a line of documentation. Defaults live only here;
//! `SyncConfig`, the BigQuery and bulk endpoints and `SYNCS` read them from
//! this table, and a test holds the README's variables table to it.

/// One setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    pub var: &'static str,
    /// The `SYNCS` entry field of the same meaning, for per-sync settings.
    pub field: Option<&'static str>,
    /// The default as the README shows it (`—`: none).
    pub default: &'static str,
    /// The least whole number a numeric setting takes.
    pub min: u64,
    pub doc: &'static str,
}

const fn setting(
    var: &'static str,
    field: Option<&'static str>,
    default: &'static str,
    min: u64,
    doc: &'static str,
) -> Setting {
    Setting {
        var,
        field,
        default,
        min,
        doc,
    }
}

/// The default `SYNC_QUERY` is the file's contents (`settings::DEFAULT_QUERY`).
pub const DEFAULT_QUERY_FILE: &str = "sql/default_query.sql";

pub const SETTINGS: &[Setting] = &[
    setting(
        "BIGQUERY_PROJECT_ID",
        None,
        "—",
        0,
        "project that runs the query jobs (required)",
    ),
    setting("BIGQUERY_LOCATION", None, "US", 0, "job location"),
    setting(
        "BIGQUERY_API_BASE",
        None,
        "https://bigquery.googleapis.com",
        0,
        "BigQuery's REST API, or an emulator's",
    ),
    setting(
        "SYNC_QUERY",
        Some("query"),
        DEFAULT_QUERY_FILE,
        0,
        "your source query",
    ),
    setting(
        "SYNC_INTERVAL_SECONDS",
        Some("interval_seconds"),
        "300",
        10,
        "from the end of one run to the start of the next (at least 10)",
    ),
    setting(
        "SYNC_LOOKBACK_SECONDS",
        Some("lookback_seconds"),
        "600",
        0,
        "how far behind the cursor each run re-reads, for late rows",
    ),
    setting(
        "BIGQUERY_PAGE_ROWS",
        Some("page_rows"),
        "10000",
        1,
        "largest result page",
    ),
    setting(
        "MAX_KV_WRITES_PER_INVOCATION",
        Some("max_kv_writes_per_invocation"),
        "1000",
        1,
        "KV requests per invocation before it checkpoints and continues",
    ),
    setting(
        "INVOCATION_BUDGET_MS",
        Some("invocation_budget_ms"),
        "25000",
        100,
        "wall time per invocation before it checkpoints and continues",
    ),
    setting(
        "KV_EXPIRATION_TTL_SECONDS",
        Some("kv_expiration_ttl_seconds"),
        "0",
        0,
        "expirationTtl of written values (0, or at least 60)",
    ),
    setting(
        "BIGQUERY_JOB_TIMEOUT_SECONDS",
        Some("job_timeout_seconds"),
        "600",
        1,
        "how long a query job may stay unfinished before the run fails",
    ),
    setting(
        "FULL_SYNC_INTERVAL_SECONDS",
        Some("full_sync_interval_seconds"),
        "86400",
        0,
        "time between scheduled full runs (0 = only on request)",
    ),
    setting(
        "RECONCILE_MAX_DELETE_PERCENT",
        Some("reconcile_max_delete_percent"),
        "20",
        0,
        "a full run deletes nothing when more than this share of the keys left the source",
    ),
    setting("ALERT_WEBHOOK_URL", None, "—", 0, "where alerts are posted"),
    setting(
        "ALERT_AFTER_FAILURES",
        Some("alert_after_failures"),
        "3",
        1,
        "consecutive failed runs before a `failing` alert",
    ),
    setting(
        "ALERT_STALENESS_SECONDS",
        Some("alert_staleness_seconds"),
        "1800",
        1,
        "staleness before a `stale` alert",
    ),
    setting(
        "BULK_MIN_ROWS",
        Some("bulk_min_rows"),
        "5000",
        0,
        "with the bulk API configured, runs of more rows than this write through it",
    ),
    setting(
        "CLOUDFLARE_API_BASE",
        None,
        "https://api.cloudflare.com/client/v4",
        0,
        "Cloudflare's REST API, for the KV bulk path",
    ),
    setting(
        "PUSH_AUDIENCE",
        None,
        "—",
        0,
        "turns on `POST /push`: the audience of the push subscription's OIDC tokens",
    ),
    setting(
        "PUSH_SERVICE_ACCOUNT",
        None,
        "—",
        0,
        "when set, pushes must be signed for this service account",
    ),
    setting(
        "GOOGLE_OIDC_CERTS_URL",
        None,
        "https://www.googleapis.com/oauth2/v3/certs",
        0,
        "Google's OIDC signing keys (a JWKS)",
    ),
];

/// The setting of `var`. Every var the code reads is in the table, so a
/// missing one is a bug caught by the first test that reads it.
pub fn of(var: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.var == var)
        .unwrap_or_else(|| panic!("{var} is not in the settings table"))
}

/// The default of a textual setting.
pub fn default_text(var: &str) -> String {
    of(var).default.to_string()
}

/// The default of a numeric setting.
pub fn default_number(var: &str) -> u64 {
    let setting = of(var);
    setting
        .default
        .parse()
        .unwrap_or_else(|_| panic!("{var}'s default {:?} is not a number", setting.default))
}
