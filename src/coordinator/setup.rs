//! The adapters one invocation works through, built from the settings.

use crate::bigquery::client::{BigQueryClient, ServiceAccountAuth};
use crate::bigquery::credentials::AccessToken;
use crate::engine::config::ConfigError;
use crate::engine::error::{RunError, SinkError};
use crate::engine::kv_path::KvPath;
use crate::engine::ports::{KvOp, KvSink};
use crate::engine::time::Micros;
use crate::kv::binding::BindingSink;
use crate::kv::bulk::BulkSink;
use crate::kv::bulk_wire::RequestBudget;
use crate::runtime::worker::WorkerRuntime;
use crate::store::StoredToken;

use super::settings::RunSettings;
use super::SyncCoordinator;

/// The KV writers this deployment is configured for: always the binding,
/// and the bulk API when a token is set, the run choosing between them.
pub struct Sink<'r> {
    binding: BindingSink,
    bulk: Option<BulkSink<'r, WorkerRuntime>>,
    path: KvPath,
}

impl KvSink for Sink<'_> {
    fn ops_per_request(&self) -> usize {
        match (&self.bulk, self.path) {
            (Some(bulk), KvPath::Bulk) => bulk.ops_per_request(),
            _ => self.binding.ops_per_request(),
        }
    }

    fn offers_bulk(&self) -> bool {
        self.bulk.is_some()
    }

    fn use_path(&mut self, path: KvPath) {
        self.path = path;
    }

    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<Result<(), SinkError>> {
        match (&mut self.bulk, self.path) {
            (Some(bulk), KvPath::Bulk) => bulk.apply(ops).await,
            _ => self.binding.apply(ops).await,
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
        let all = self.settings();
        let settings = all.run()?;
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
        let sink = self.sink(settings, deadline)?;
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

    /// The binding, and the bulk API beside it when a token is set.
    fn sink(&self, settings: &RunSettings, deadline: Micros) -> Result<Sink<'_>, RunError> {
        let definition = &settings.definition;
        let ttl = definition.config.kv_expiration_ttl_seconds;
        let kv = self.env.kv(&definition.kv_binding).map_err(|e| {
            ConfigError::missing(
                &definition.kv_binding,
                format!("the KV binding is missing: {e}"),
            )
        })?;
        let bulk = settings.bulk.as_ref().map(|endpoint| {
            self.share_bulk_budget(settings.bulk_syncs);
            BulkSink::new(
                &self.runtime,
                endpoint,
                ttl,
                self.bulk_budget.clone(),
                deadline,
            )
        });
        // Until the run chooses, requests are counted as the bulk path's
        // (`KvSink::offers_bulk`).
        let path = match bulk {
            Some(_) => KvPath::Bulk,
            None => KvPath::Binding,
        };
        Ok(Sink {
            binding: BindingSink::new(kv, ttl),
            bulk,
            path,
        })
    }

    /// This sync's share of the bulk API token, counting the requests it
    /// sent before (kept in storage across restarts).
    fn share_bulk_budget(&self, syncs: usize) {
        let limit = RequestBudget::new(syncs, Vec::new()).limit();
        if self.bulk_budget.borrow().limit() == limit {
            return;
        }
        let sent = self.store.bulk_requests().unwrap_or_default();
        *self.bulk_budget.borrow_mut() = RequestBudget::new(syncs, sent);
    }

    /// Keeps the times of this sync's bulk requests for a restarted object.
    pub(super) fn save_bulk_budget(&self) {
        let sent = self.bulk_budget.borrow().sent();
        if sent.is_empty() {
            return;
        }
        if let Err(e) = self.store.save_bulk_requests(&sent) {
            use crate::runtime::Runtime;
            self.runtime
                .log(&serde_json::json!({"event": "bulk_budget_error", "error": e.to_string()}));
        }
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
