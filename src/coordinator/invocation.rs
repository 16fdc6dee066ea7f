//! One invocation of the active run: take the lease, drive the engine, then
//! record the outcome and arm the next alarm.

use serde_json::json;
use worker::{Response, Result};

use super::{json_response, log, now, store_error, SyncCoordinator};
use crate::bigquery::client::{BigQueryClient, ServiceAccountAuth};
use crate::bigquery::credentials::{AccessToken, ServiceAccountKey};
use crate::engine::checkpoint::RunProgress;
use crate::engine::config::SyncConfig;
use crate::engine::error::SinkError;
use crate::engine::error::{Retry, RunError};
use crate::engine::limits::RunLimits;
use crate::engine::ports::Clock;
use crate::engine::ports::{KvOp, KvSink};
use crate::engine::run::{Engine, Outcome, Waited};
use crate::engine::schedule::backoff;
use crate::engine::status::RunRecord;
use crate::engine::time::{Micros, MICROS_PER_MILLI, MICROS_PER_SECOND};
use crate::kv::binding::BindingSink;
use crate::kv::bulk::BulkSink;
use crate::kv::bulk_wire::MAX_PAIRS;

/// Time from the Workers runtime (millisecond resolution, which is all a
/// budget or a lease needs; row timestamps never come from here).
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> Micros {
        now()
    }
}

/// How an invocation ended, as the webhook reports it.
pub enum Invoked {
    Completed(RunRecord),
    Continuing(RunRecord),
    Failed(RunRecord, String),
    /// Another invocation holds the lease.
    Busy(RunRecord),
}

impl Invoked {
    pub fn response(self, timestamp: String) -> Result<Response> {
        let at = now();
        match self {
            Invoked::Completed(run) => json_response(
                200,
                &json!({
                    "success": true, "message": "KV sync completed", "timestamp": timestamp, "run": run.view(at),
                }),
            ),
            Invoked::Continuing(run) => json_response(
                202,
                &json!({
                    "success": true, "message": "KV sync started; continuing in background",
                    "timestamp": timestamp, "run": run.view(at),
                }),
            ),
            Invoked::Busy(run) => json_response(
                202,
                &json!({
                    "success": true, "message": "KV sync already running", "timestamp": timestamp,
                    "run": run.view(at), "queued": false,
                }),
            ),
            Invoked::Failed(run, error) => json_response(
                502,
                &json!({
                    "success": false, "error": error, "message": "KV sync failed; it will be retried",
                    "timestamp": timestamp, "run": run.view(at),
                }),
            ),
        }
    }
}

/// Everything an invocation needs from configuration, or the reason it
/// cannot run, in words a person can act on.
struct Setup {
    config: SyncConfig,
    warehouse: BigQueryClient,
    sink: Sink,
}

/// The KV writer this deployment is configured for.
enum Sink {
    Binding(BindingSink),
    Bulk(BulkSink),
}

impl KvSink for Sink {
    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<std::result::Result<(), SinkError>> {
        match self {
            Sink::Binding(s) => s.apply(ops).await,
            Sink::Bulk(s) => s.apply(ops).await,
        }
    }
}

impl SyncCoordinator {
    fn setup(&self, config: SyncConfig, deadline: Micros) -> std::result::Result<Setup, String> {
        let auth = match self.env.secret("BIGQUERY_CREDENTIALS") {
            Ok(secret) => {
                let key = ServiceAccountKey::parse(&secret.to_string())
                    .map_err(|e| RunError::from(e).to_string())?;
                let token = self.cached_token(&key.client_email);
                Some(ServiceAccountAuth { key, token })
            }
            Err(_) => None,
        };
        let project = config
            .project_id
            .clone()
            .or_else(|| auth.as_ref().and_then(|a| a.key.project_id.clone()))
            .ok_or_else(|| {
                "configuration error: BIGQUERY_PROJECT_ID is not set; set it to the project that runs the query jobs"
                    .to_string()
            })?;
        let sink = match self.env.secret("CLOUDFLARE_API_TOKEN") {
            Ok(token) => {
                let account = self.setting("CLOUDFLARE_ACCOUNT_ID").ok_or(
                    "configuration error: CLOUDFLARE_API_TOKEN is set but CLOUDFLARE_ACCOUNT_ID is not; the bulk path needs both and KV_NAMESPACE_ID",
                )?;
                let namespace = self.setting("KV_NAMESPACE_ID").ok_or(
                    "configuration error: CLOUDFLARE_API_TOKEN is set but KV_NAMESPACE_ID is not; set it to IDENTITY_STORE's namespace id",
                )?;
                let api_base = self
                    .setting("CLOUDFLARE_API_BASE")
                    .unwrap_or_else(|| "https://api.cloudflare.com/client/v4".into());
                Sink::Bulk(BulkSink::new(
                    &api_base,
                    &account,
                    &namespace,
                    token.to_string(),
                    config.kv_expiration_ttl_seconds,
                    self.bulk_budget.clone(),
                    deadline,
                ))
            }
            Err(_) => {
                let kv = self.env.kv("IDENTITY_STORE").map_err(|e| {
                    format!("configuration error: KV binding IDENTITY_STORE is missing: {e}")
                })?;
                Sink::Binding(BindingSink::new(kv, config.kv_expiration_ttl_seconds))
            }
        };
        Ok(Setup {
            warehouse: BigQueryClient::new(
                &config.api_base,
                &project,
                &config.location,
                auth,
                deadline,
            ),
            sink,
            config,
        })
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
    fn remember_token(&self, warehouse: &BigQueryClient) {
        let Some(auth) = &warehouse.auth else { return };
        let Some(token) = &auth.token else { return };
        let email = auth.key.client_email.clone();
        if self.cached_token(&email).as_ref() == Some(token) {
            return;
        }
        if let Err(e) = self.store.save_token(&email, token) {
            log(json!({"event": "token_cache_error", "error": format!("{e:?}")}));
        }
        *self.token.borrow_mut() = Some((email, token.clone()));
    }

    /// Works on run `run_id` for one invocation.
    pub(super) async fn invoke(&self, run_id: u64) -> Result<Invoked> {
        let config = self.config.clone();
        // The lease and budgets hold even when the configuration is broken,
        // so that failure is recorded under a lease like any other.
        let effective = config
            .clone()
            .unwrap_or_else(|_| SyncConfig::from_vars(|_| None).expect("defaults parse"));
        let deadline = now() + effective.invocation_budget_ms as Micros * MICROS_PER_MILLI;
        let setup = config.and_then(|c| self.setup(c, deadline));
        let mut limits = RunLimits::from_config(&effective);
        if let Ok(Setup {
            sink: Sink::Bulk(_),
            ..
        }) = &setup
        {
            // On the bulk path the cap counts REST requests of up to 10,000
            // pairs each, and a batch is one request.
            limits.batch_rows = MAX_PAIRS;
            limits.max_kv_writes = limits.max_kv_writes.saturating_mul(MAX_PAIRS as u32);
        }
        let start = now();
        let lease = match self
            .store
            .acquire_lease(run_id, start, limits.lease_ttl)
            .map_err(store_error)?
        {
            Ok(lease) => lease,
            Err(_) => return Ok(Invoked::Busy(self.store.run(run_id).map_err(store_error)?)),
        };
        self.arm(lease.expires_at).await?;
        let mut progress = self.store.progress(run_id).map_err(store_error)?;
        let mut setup = match setup {
            Ok(s) => s,
            Err(error) => {
                progress.invocations += 1;
                return self.fail(lease.fence, progress, error).await;
            }
        };
        if progress.invocations > 0 {
            log(
                json!({"event": "run_continued", "run": run_id, "invocation": progress.invocations + 1,
                       "rows_read": progress.counters.rows_read, "total_rows": progress.total_rows}),
            );
        }
        let mut store = &self.store;
        let mut report = Engine {
            warehouse: &mut setup.warehouse,
            sink: &mut setup.sink,
            store: &mut store,
            clock: &WorkerClock,
            limits: &limits,
            query: &setup.config.query,
            fence: lease.fence,
            waited: Waited::default(),
            read_ahead: self.read_ahead.take(),
        }
        .run_invocation(progress)
        .await;
        self.remember_token(&setup.warehouse);
        self.read_ahead.replace(report.read_ahead.take());
        let interval = setup.config.interval_seconds as Micros * MICROS_PER_SECOND;
        let ms = |micros: Micros| micros / MICROS_PER_MILLI;
        let time = json!({"invocation_ms": ms(now() - start), "bigquery_ms": ms(report.waited.warehouse),
                          "kv_ms": ms(report.waited.kv)});
        match report.outcome {
            Outcome::Completed => {
                self.store
                    .finish_run(lease.fence, &report.progress, None, now())
                    .map_err(store_error)?;
                let run = self.store.run(run_id).map_err(store_error)?;
                let c = &run.counters;
                log(
                    json!({"event": "run_completed", "run": run_id, "invocations": run.invocations,
                           "rows_read": c.rows_read, "rows_written": c.rows_written, "rows_deleted": c.rows_deleted,
                           "rows_unchanged": c.rows_unchanged, "rows_failed": c.rows_failed,
                           "seconds": (now() - run.started_at) as f64 / MICROS_PER_SECOND as f64, "time": time}),
                );
                let queued = self.store.state().map_err(store_error)?.queued != 0;
                self.arm(if queued { now() } else { now() + interval })
                    .await?;
                Ok(Invoked::Completed(run))
            }
            Outcome::Paused(pause) => {
                self.store
                    .save_progress(lease.fence, &report.progress)
                    .map_err(store_error)?;
                self.store
                    .release_lease(lease.fence, now())
                    .map_err(store_error)?;
                log(
                    json!({"event": "run_paused", "run": run_id, "reason": format!("{pause:?}"),
                           "rows_read": report.progress.counters.rows_read, "total_rows": report.progress.total_rows,
                           "time": time}),
                );
                self.arm(now()).await?;
                Ok(Invoked::Continuing(
                    self.store.run(run_id).map_err(store_error)?,
                ))
            }
            Outcome::Failed(e) if e.retry() == Retry::Never => {
                log(json!({"event": "run_lease_lost", "run": run_id, "fence": lease.fence}));
                Ok(Invoked::Busy(self.store.run(run_id).map_err(store_error)?))
            }
            Outcome::Failed(e) => self.fail(lease.fence, report.progress, e.to_string()).await,
        }
    }

    async fn fail(&self, fence: u64, progress: RunProgress, error: String) -> Result<Invoked> {
        let run_id = progress.run_id;
        self.store
            .finish_run(fence, &progress, Some(&error), now())
            .map_err(store_error)?;
        let failures = self
            .store
            .state()
            .map_err(store_error)?
            .consecutive_failures as u32;
        let delay = backoff(failures, self.interval());
        log(
            json!({"event": "run_failed", "run": run_id, "error": error, "consecutive_failures": failures,
                   "retry_in_seconds": delay / MICROS_PER_SECOND}),
        );
        self.arm(now() + delay).await?;
        Ok(Invoked::Failed(
            self.store.run(run_id).map_err(store_error)?,
            error,
        ))
    }
}
