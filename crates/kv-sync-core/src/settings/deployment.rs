//! One sync's settings, read from the Worker's vars and secrets (and the
//! sync's `SYNCS` entry) once per object. A bad setting is kept as the
//! error every run of that sync reports.

use crate::bigquery::credentials::ServiceAccountKey;
use crate::bigquery::endpoint::BigQueryConfig;
use crate::coordinator::ports::Environment;
use crate::engine::error::RunError;
use crate::engine::limits::RunLimits;
use crate::engine::run::RunSpec;
use crate::kv::bulk::BulkEndpoint;
use crate::settings::push::PushSettings;
use crate::settings::syncs::{key_sharers, read_sync, sync_names, SyncDefinition, DEFAULT_SYNC};
use crate::settings::{ConfigError, SyncConfig};

/// Everything a run of the sync needs from configuration.
pub struct RunSettings {
    pub definition: SyncDefinition,
    pub bigquery: BigQueryConfig,
    /// Set when the KV bulk REST path is configured.
    pub bulk: Option<BulkEndpoint>,
    /// How many syncs share the bulk API token (each gets an even share).
    pub bulk_syncs: usize,
    /// The other syncs writing under this one's prefix into its namespace.
    pub key_sharers: Vec<String>,
    pub service_account: Option<ServiceAccountKey>,
    /// Where alerts are posted (Slack-compatible JSON), if anywhere.
    pub alert_url: Option<String>,
}

pub struct Settings {
    /// The sync these settings are for.
    pub name: String,
    parsed: Result<RunSettings, RunError>,
    /// `POST /push`'s settings, when it is on.
    pub push: Option<PushSettings>,
    /// What the lease and budgets go by while the settings are broken, so
    /// that failure is recorded under a lease like any other.
    fallback: SyncConfig,
}

impl Settings {
    pub fn read(env: &impl Environment, name: &str) -> Self {
        Settings {
            name: name.to_string(),
            parsed: parse(env, name),
            push: PushSettings::read(|var| env.setting(var)),
            fallback: SyncConfig::default(),
        }
    }

    /// The sync's settings, or the defaults while they are broken.
    pub fn sync(&self) -> &SyncConfig {
        self.parsed
            .as_ref()
            .map_or(&self.fallback, |p| &p.definition.config)
    }

    pub fn run(&self) -> Result<&RunSettings, RunError> {
        self.parsed.as_ref().map_err(Clone::clone)
    }

    /// What the engine runs for this sync, within `limits`.
    pub fn run_spec<'a>(&'a self, limits: &'a RunLimits) -> RunSpec<'a> {
        RunSpec {
            query: &self.sync().query,
            key_prefix: self.run().map_or("", |s| s.definition.key_prefix.as_str()),
            retired_prefixes: &[],
            shares_keys: self.run().is_ok_and(|s| !s.key_sharers.is_empty()),
            limits,
        }
    }
}

/// `ALERT_WEBHOOK_URL`, a secret or a var: it carries a token in its path
/// for Slack and Google Chat, so it is never shown or logged.
fn alert_url(var: impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = var("ALERT_WEBHOOK_URL")
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(Some(url))
    } else {
        Err(ConfigError::invalid(
            "ALERT_WEBHOOK_URL",
            "(hidden)",
            "must be an http(s) URL",
        ))
    }
}

/// The bulk path of the sync `definition`: the token and account are the
/// deployment's, the namespace is the sync's own (`KV_NAMESPACE_ID` for the
/// default sync, its entry's `kv_namespace_id` for a named one).
fn bulk_endpoint(
    var: impl Fn(&str) -> Option<String>,
    definition: &SyncDefinition,
) -> Result<Option<BulkEndpoint>, ConfigError> {
    BulkEndpoint::from_vars(&var, || {
        definition.kv_namespace_id.clone().ok_or_else(|| {
            let setting = if definition.name == DEFAULT_SYNC {
                "KV_NAMESPACE_ID".to_string()
            } else {
                format!("SYNCS ({}).kv_namespace_id", definition.name)
            };
            ConfigError::missing(
                &setting,
                format!(
                    "CLOUDFLARE_API_TOKEN is set, so the bulk path needs the namespace id of {}",
                    definition.kv_binding
                ),
            )
        })
    })
}

fn parse(env: &impl Environment, name: &str) -> Result<RunSettings, RunError> {
    let var = |var_name: &str| env.setting(var_name);
    // Every sync shares the bulk API token, so each takes an even share.
    let bulk_syncs = sync_names(var)?.len();
    let definition = read_sync(var, name)?.ok_or_else(|| {
        ConfigError::missing(
            "SYNCS",
            format!("the sync {name:?} is no longer configured; its coordinator idles"),
        )
    })?;
    let service_account = match env.secret("BIGQUERY_CREDENTIALS") {
        Some(secret) => Some(ServiceAccountKey::parse(&secret)?),
        None => None,
    };
    Ok(RunSettings {
        key_sharers: key_sharers(var, &definition),
        bigquery: BigQueryConfig::from_vars(var)?,
        bulk: bulk_endpoint(var, &definition)?,
        bulk_syncs,
        definition,
        service_account,
        alert_url: alert_url(var)?,
    })
}
