//! The adapters one invocation works through, built from the settings.

use crate::bigquery::client::{BigQueryClient, ServiceAccountAuth};
use crate::bigquery::credentials::AccessToken;
use crate::engine::config::ConfigError;
use crate::engine::error::{RunError, SinkError};
use crate::engine::ports::{KvOp, KvSink};
use crate::engine::time::Micros;
use crate::kv::binding::BindingSink;
use crate::kv::bulk::BulkSink;
use crate::runtime::worker::WorkerRuntime;
use crate::store::StoredToken;

use super::SyncCoordinator;

/// The KV writer this deployment is configured for.
pub enum Sink<'r> {
    Binding(BindingSink),
    Bulk(BulkSink<'r, WorkerRuntime>),
}

impl KvSink for Sink<'_> {
    fn ops_per_request(&self) -> usize {
        match self {
            Sink::Binding(s) => s.ops_per_request(),
            Sink::Bulk(s) => s.ops_per_request(),
        }
    }

    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<Result<(), SinkError>> {
        match self {
            Sink::Binding(s) => s.apply(ops).await,
            Sink::Bulk(s) => s.apply(ops).await,
        }
    }
}

pub struct Adapters<'r> {
    pub warehouse: BigQueryClient<'r, WorkerRuntime>,
    pub sink: Sink<'r>,
}

impl SyncCoordinator {
    /// The adapters for one invocation that must end by `deadline`, or the
    /// reason the settings cannot run, in words a person can act on.
    pub(super) fn setup(&self, deadline: Micros) -> Result<Adapters<'_>, RunError> {
        let settings = self.settings.run()?;
        let auth = settings
            .service_account
            .clone()
            .map(|key| ServiceAccountAuth {
                token: self.cached_token(&key.client_email),
                key,
            });
        let project = settings
            .bigquery
            .project_id
            .clone()
            .or_else(|| auth.as_ref().and_then(|a| a.key.project_id.clone()))
            .ok_or_else(|| {
                ConfigError::missing(
                    "BIGQUERY_PROJECT_ID",
                    "set it to the project that runs the query jobs",
                )
            })?;
        let ttl = settings.sync.kv_expiration_ttl_seconds;
        let sink = match &settings.bulk {
            Some(endpoint) => Sink::Bulk(BulkSink::new(
                &self.runtime,
                endpoint,
                ttl,
                self.bulk_budget.clone(),
                deadline,
            )),
            None => {
                let kv = self.env.kv("IDENTITY_STORE").map_err(|e| {
                    ConfigError::missing(
                        "IDENTITY_STORE",
                        format!("the KV binding is missing: {e}"),
                    )
                })?;
                Sink::Binding(BindingSink::new(kv, ttl))
            }
        };
        Ok(Adapters {
            warehouse: BigQueryClient::new(
                &self.runtime,
                &settings.bigquery,
                &project,
                auth,
                deadline,
            ),
            sink,
        })
    }

    /// The token in memory, else the one in storage (a restarted object).
    fn cached_token(&self, client_email: &str) -> Option<AccessToken> {
        if let Some((email, token)) = self.token.borrow().as_ref() {
            if email == client_email {
                return Some(token.clone());
            }
        }
        let stored = self.store.cached_token(client_email).ok().flatten()?;
        Some(AccessToken {
            token: stored.token,
            expires_at: stored.expires_at,
        })
    }

    /// Keeps a newly minted token in memory and in storage.
    pub(super) fn remember_token(&self, warehouse: &BigQueryClient<'_, WorkerRuntime>) {
        let Some((email, token)) = warehouse.token() else {
            return;
        };
        if self.cached_token(email).as_ref() == Some(token) {
            return;
        }
        let stored = StoredToken {
            token: token.token.clone(),
            expires_at: token.expires_at,
        };
        if let Err(e) = self.store.save_token(email, &stored) {
            use crate::runtime::Runtime;
            self.runtime
                .log(&serde_json::json!({"event": "token_cache_error", "error": e.to_string()}));
        }
        *self.token.borrow_mut() = Some((email.to_string(), token.clone()));
    }
}
