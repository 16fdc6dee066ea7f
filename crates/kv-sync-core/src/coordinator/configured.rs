//! The connection the settings configure: the BigQuery client (with the
//! cached access token) and the KV sink (the binding, and the bulk API
//! within this sync's share of the token's request budget).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::json;

use super::ports::{Connect, Context, Environment};
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
use crate::store::Store;

/// What a configured connection keeps across the invocations of one
/// object: the access token and the bulk API's request budget.
#[derive(Default)]
pub struct Configured {
    /// The BigQuery access token last used, with its service account.
    token: RefCell<Option<(String, AccessToken)>>,
    /// The KV bulk API token's request budget, across invocations.
    bulk_budget: Rc<RefCell<RequestBudget>>,
    /// Whether `bulk_budget` holds what storage kept from earlier objects.
    bulk_budget_loaded: Cell<bool>,
}

impl<S: Sql, R: Runtime, E: Environment> Connect<S, R, E> for Configured {
    type Warehouse<'a>
        = BigQueryClient<'a, R>
    where
        S: 'a,
        R: 'a,
        E: 'a;
    type Sink<'a>
        = PathSink<'a, E::Namespace, R>
    where
        S: 'a,
        R: 'a,
        E: 'a;

    fn open<'a>(
        &'a self,
        cx: Context<'a, S, R, E>,
        deadline: Micros,
    ) -> Result<(BigQueryClient<'a, R>, PathSink<'a, E::Namespace, R>), RunError> {
        let settings = cx.settings.run()?;
        let auth = settings
            .service_account
            .clone()
            .map(|key| ServiceAccountAuth {
                token: self.cached_token(cx.store, &key.client_email),
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
        let sink = self.sink(cx, settings, deadline)?;
        let warehouse =
            BigQueryClient::new(cx.runtime, &settings.bigquery, &project, auth, deadline);
        Ok((warehouse, sink))
    }

    fn open_sink<'a>(
        &'a self,
        cx: Context<'a, S, R, E>,
        deadline: Micros,
    ) -> Result<PathSink<'a, E::Namespace, R>, RunError> {
        self.sink(cx, cx.settings.run()?, deadline)
    }

    fn close<'a>(&'a self, cx: Context<'a, S, R, E>, warehouse: &BigQueryClient<'a, R>) {
        self.remember_token(cx, warehouse);
        self.save_bulk_budget(cx);
    }
}

impl Configured {
    /// The binding, and the bulk API beside it when a token is set.
    fn sink<'a, S: Sql, R: Runtime, E: Environment>(
        &'a self,
        cx: Context<'a, S, R, E>,
        settings: &RunSettings,
        deadline: Micros,
    ) -> Result<PathSink<'a, E::Namespace, R>, RunError> {
        let definition = &settings.definition;
        let ttl = definition.config.kv_expiration_ttl_seconds;
        let kv = cx.env.kv(&definition.kv_binding).map_err(|e| {
            ConfigError::missing(
                &definition.kv_binding,
                format!("the KV binding is missing: {e}"),
            )
        })?;
        let bulk = settings.bulk.as_ref().map(|endpoint| {
            self.share_bulk_budget(cx.store, settings.bulk_syncs);
            BulkSink::new(
                cx.runtime,
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
    fn share_bulk_budget<S: Sql>(&self, store: &Store<S>, syncs: usize) {
        if self.bulk_budget_loaded.replace(true) {
            return;
        }
        let sent = store.bulk_requests().unwrap_or_default();
        *self.bulk_budget.borrow_mut() = RequestBudget::new(syncs, sent);
    }

    /// Keeps the times of this sync's bulk requests for a restarted object.
    fn save_bulk_budget<S: Sql, R: Runtime, E>(&self, cx: Context<'_, S, R, E>) {
        let sent = self.bulk_budget.borrow().sent();
        if sent.is_empty() {
            return;
        }
        if let Err(e) = cx.store.save_bulk_requests(&sent) {
            cx.runtime
                .log(&json!({"event": "bulk_budget_error", "error": e.to_string()}));
        }
    }

    /// The token in memory, else the one in storage (a restarted object).
    fn cached_token<S: Sql>(&self, store: &Store<S>, client_email: &str) -> Option<AccessToken> {
        if let Some((email, token)) = self.token.borrow().as_ref() {
            if email == client_email {
                return Some(token.clone());
            }
        }
        store.cached_token(client_email).ok().flatten()
    }

    /// Keeps a newly minted token in memory and in storage.
    fn remember_token<S: Sql, R: Runtime, E>(
        &self,
        cx: Context<'_, S, R, E>,
        warehouse: &BigQueryClient<'_, R>,
    ) {
        let Some((email, token)) = warehouse.token() else {
            return;
        };
        if self.cached_token(cx.store, email).as_ref() == Some(token) {
            return;
        }
        if let Err(e) = cx.store.save_token(email, token) {
            cx.runtime
                .log(&json!({"event": "token_cache_error", "error": e.to_string()}));
        }
        *self.token.borrow_mut() = Some((email.to_string(), token.clone()));
    }
}
