//! The deployment's settings, read from the Worker's vars and secrets once
//! per object. A bad setting is kept as the error every run reports.

use worker::Env;

use crate::bigquery::config::BigQueryConfig;
use crate::bigquery::credentials::ServiceAccountKey;
use crate::engine::config::SyncConfig;
use crate::engine::error::RunError;
use crate::kv::bulk::BulkEndpoint;

/// Everything a run needs from configuration.
pub struct RunSettings {
    pub sync: SyncConfig,
    pub bigquery: BigQueryConfig,
    /// Set when the KV bulk REST path is configured.
    pub bulk: Option<BulkEndpoint>,
    pub service_account: Option<ServiceAccountKey>,
}

pub struct Settings {
    parsed: Result<RunSettings, RunError>,
    /// What the lease and budgets go by while the settings are broken, so
    /// that failure is recorded under a lease like any other.
    fallback: SyncConfig,
}

/// Reads a var, or a secret of the same name (wrangler passes both as
/// strings; some users keep a long `SYNC_QUERY` as a secret).
pub fn setting(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
}

impl Settings {
    pub fn read(env: &Env) -> Self {
        Settings {
            parsed: parse(env),
            fallback: SyncConfig::default(),
        }
    }

    /// The sync's settings, or the defaults while they are broken.
    pub fn sync(&self) -> &SyncConfig {
        self.parsed.as_ref().map_or(&self.fallback, |p| &p.sync)
    }

    pub fn run(&self) -> Result<&RunSettings, RunError> {
        self.parsed.as_ref().map_err(Clone::clone)
    }
}

fn parse(env: &Env) -> Result<RunSettings, RunError> {
    let var = |name: &str| setting(env, name);
    let service_account = match env.secret("BIGQUERY_CREDENTIALS") {
        Ok(secret) => Some(ServiceAccountKey::parse(&secret.to_string())?),
        Err(_) => None,
    };
    Ok(RunSettings {
        sync: SyncConfig::from_vars(var)?,
        bigquery: BigQueryConfig::from_vars(var)?,
        bulk: BulkEndpoint::from_vars(var)?,
        service_account,
    })
}
