//! The adapters one invocation works through, built from the settings: the
//! BigQuery client (with the cached access token) and the KV sink (the
//! binding, and the bulk API within this sync's share of the token's
//! request budget).

use serde_json::json;

use super::ports::{Alarm, Environment};
use super::Coordinator;
use crate::bigquery::client::{BigQueryClient, ServiceAccountAuth};
use crate::bigquery::credentials::AccessToken;
use crate::engine::error::RunError;
use crate::engine::time::Micros;
use crate::kv::binding::BindingSink;
use crate::kv::bulk::BulkSink;
use crate::kv::bulk_wire::RequestBudget;
use crate::kv::path_sink::PathSink;
use crate::runtime::Runtime;
use crate::settings::deployment::RunSettings;
use crate::settings::ConfigError;
use crate::store::sql::Sql;

pub(super) struct Adapters<'r, R, N> {
    pub warehouse: BigQueryClient<'r, R>,
    pub sink: PathSink<'r, N, R>,
}

impl<S: Sql + Alarm, R: Runtime, E: Environment> Coordinator<S, R, E> {
    /// The adapters for one invocation that must end by `deadline`, or the
    /// reason the settings cannot run, in words a person can act on.
    pub(super) fn connect(
        &self,
        deadline: Micros,
    ) -> Result<Adapters<'_, R, E::Namespace>, RunError> {
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
    fn sink(
        &self,
        settings: &RunSettings,
        deadline: Micros,
    ) -> Result<PathSink<'_, E::Namespace, R>, RunError> {
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
        Ok(PathSink::new(BindingSink::new(kv, ttl), bulk))
    }

    /// This sync's share of the bulk API token, counting the requests it
    /// sent before (kept in storage across restarts), loaded once per
    /// object: the settings, and so the share, are fixed for its life.
    fn share_bulk_budget(&self, syncs: usize) {
        if self.bulk_budget_loaded.replace(true) {
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
            self.runtime
                .log(&json!({"event": "bulk_budget_error", "error": e.to_string()}));
        }
    }

    /// The token in memory, else the one in storage (a restarted object).
    fn cached_token(&self, client_email: &str) -> Option<AccessToken> {
        if let Some((email, token)) = self.token.borrow().as_ref() {
            if email == client_email {
                return Some(token.clone());
            }
        }
        self.store.cached_token(client_email).ok().flatten()
    }

    /// Keeps a newly minted token in memory and in storage.
    pub(super) fn remember_token(&self, warehouse: &BigQueryClient<'_, R>) {
        let Some((email, token)) = warehouse.token() else {
            return;
        };
        if self.cached_token(email).as_ref() == Some(token) {
            return;
        }
        if let Err(e) = self.store.save_token(email, token) {
            self.runtime
                .log(&json!({"event": "token_cache_error", "error": e.to_string()}));
        }
        *self.token.borrow_mut() = Some((email.to_string(), token.clone()));
    }
}
