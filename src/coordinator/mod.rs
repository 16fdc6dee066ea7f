//! The sync coordinator: a Durable Object that owns the cursor, the run
//! lease and the alarm, and drives the engine one invocation at a time.
//!
//! Every path through it leaves an alarm armed: at the lease expiry while a
//! run works (a dead man's switch), at once when a run continues or a
//! follow-up is queued, after a backoff when a run failed, and one interval
//! after a run completed.

mod invocation;
mod migrations;
mod status;
pub mod store;

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::json;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::bigquery::credentials::AccessToken;
use crate::engine::config::SyncConfig;
use crate::engine::error::StoreError;
use crate::engine::read_ahead::ReadAhead;
use crate::engine::status::{RunRecord, Trigger};
use crate::engine::time::{
    to_rfc3339, Micros, BEGINNING_OF_TIME, MICROS_PER_MILLI, MICROS_PER_SECOND,
};
use crate::kv::bulk_wire::RequestBudget;
use store::SqliteStore;

/// The one coordinator instance's name: one cursor per deployment.
pub const INSTANCE: &str = "kv-sync";

#[durable_object]
pub struct SyncCoordinator {
    state: State,
    env: Env,
    store: SqliteStore,
    /// Set when the schema could not be migrated: every request reports it.
    broken: Option<String>,
    /// The BigQuery access token last used, with its service account.
    token: RefCell<Option<(String, AccessToken)>>,
    /// The configuration, parsed once: vars and secrets are fixed for an
    /// object's lifetime (changing them deploys a new version). A bad one is
    /// kept as its message, reported by every run until it is fixed.
    config: std::result::Result<SyncConfig, String>,
    /// The KV bulk API token's request budget, across invocations.
    bulk_budget: Rc<RefCell<RequestBudget>>,
    /// The next result page, read while the last invocation wrote.
    read_ahead: RefCell<Option<ReadAhead>>,
}

pub fn now() -> Micros {
    worker::Date::now().as_millis() as Micros * MICROS_PER_MILLI
}

/// Emits one structured log line (`wrangler tail` shows it).
pub fn log(event: serde_json::Value) {
    worker::console_log!("{}", event);
}

fn json_response(status: u16, body: &serde_json::Value) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

fn store_error(e: StoreError) -> worker::Error {
    worker::Error::RustError(format!("coordinator storage: {e:?}"))
}

impl DurableObject for SyncCoordinator {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        let broken = migrations::apply(&sql, now())
            .err()
            .map(|e| format!("schema migration failed: {e}"));
        if let Some(b) = &broken {
            log(json!({"event": "migration_failed", "error": b}));
        }
        let config = SyncConfig::from_vars(|name| setting(&env, name)).map_err(|e| e.to_string());
        SyncCoordinator {
            state,
            env,
            config,
            store: SqliteStore::new(sql),
            broken,
            token: RefCell::new(None),
            bulk_budget: Rc::default(),
            read_ahead: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if let Some(b) = &self.broken {
            return json_response(500, &json!({"success": false, "error": b}));
        }
        // Any request is a chance to repair a lost alarm (and a fresh
        // object gets its first one here).
        self.ensure_alarm().await?;
        let url = req.url()?;
        let flag = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_string())
        };
        match url.path() {
            "/sync" => {
                let wait = flag("wait").as_deref() != Some("false");
                let full = flag("full").as_deref() == Some("true");
                self.sync_now(wait, full).await
            }
            "/status" => self.status().await,
            "/ensure-alarm" => json_response(
                200,
                &json!({"success": true, "next_alarm_at": self.next_alarm().await?.map(to_rfc3339)}),
            ),
            _ => json_response(
                404,
                &json!({"success": false, "error": "no such coordinator route"}),
            ),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if let Err(e) = self.on_alarm().await {
            log(json!({"event": "alarm_error", "error": e.to_string()}));
        }
        // Whatever happened, the object is never left without an alarm.
        self.ensure_alarm().await?;
        Response::ok("")
    }
}

/// Reads a var, or a secret of the same name (wrangler passes both as
/// strings; some users keep a long `SYNC_QUERY` as a secret).
fn setting(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .or_else(|_| env.secret(name).map(|v| v.to_string()))
        .ok()
}

impl SyncCoordinator {
    fn setting(&self, name: &str) -> Option<String> {
        setting(&self.env, name)
    }

    fn interval(&self) -> Micros {
        self.config.as_ref().map_or(300, |c| c.interval_seconds) as Micros * MICROS_PER_SECOND
    }

    /// Sets the alarm to an absolute time (an `i64` would mean an offset).
    async fn arm(&self, at: Micros) -> Result<()> {
        let ms = (at / MICROS_PER_MILLI).max(0) as f64;
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
        self.state
            .storage()
            .set_alarm(worker::ScheduledTime::new(date))
            .await
    }

    async fn next_alarm(&self) -> Result<Option<Micros>> {
        Ok(self
            .state
            .storage()
            .get_alarm()
            .await?
            .map(|ms| ms * MICROS_PER_MILLI))
    }

    /// Arms the alarm if none is set: at once for a run in progress (it was
    /// interrupted), else one interval from now.
    async fn ensure_alarm(&self) -> Result<()> {
        if self.next_alarm().await?.is_some() {
            return Ok(());
        }
        let active = self
            .store
            .state()
            .map_err(store_error)?
            .active_run_id
            .is_some();
        let at = if active {
            now()
        } else {
            now() + self.interval()
        };
        log(json!({"event": "alarm_rearmed", "at": to_rfc3339(at)}));
        self.arm(at).await
    }

    /// Records a new run, reading from the cursor minus the lookback (or
    /// everything, for a full run or the first one).
    fn start_run(
        &self,
        trigger: Trigger,
        full: bool,
    ) -> std::result::Result<RunRecord, StoreError> {
        let now = now();
        let state = self.store.state()?;
        let lookback =
            self.config.as_ref().map_or(600, |c| c.lookback_seconds) as Micros * MICROS_PER_SECOND;
        let since = match (state.cursor(), full) {
            (Some(c), false) => c.updated_at - lookback,
            _ => BEGINNING_OF_TIME,
        };
        let progress = self.store.create_run(trigger, since, now)?;
        log(
            json!({"event": "run_started", "run": progress.run_id, "trigger": trigger.as_str(),
                   "since": to_rfc3339(since), "full": full}),
        );
        self.store.run(progress.run_id)
    }

    /// Whether values written with a TTL are due for a refresh, which needs
    /// a full read of the source (incremental runs do not see old rows).
    fn refresh_due(&self) -> bool {
        let Ok(config) = &self.config else {
            return false;
        };
        if config.kv_expiration_ttl_seconds == 0 {
            return false;
        }
        let half_ttl = config.kv_expiration_ttl_seconds as Micros * MICROS_PER_SECOND / 2;
        matches!(self.store.oldest_write(), Ok(Some(oldest)) if now() - oldest >= half_ttl)
    }

    async fn on_alarm(&self) -> Result<()> {
        let state = self.store.state().map_err(store_error)?;
        if let Some(run_id) = state.active_run_id {
            let lease = state.lease();
            if let Some(lease) = lease.filter(|l| l.is_live(now())) {
                // Another invocation works on the run; wake when its lease
                // would lapse, in case it dies.
                return self.arm(lease.expires_at).await;
            }
            self.invoke(run_id as u64).await?;
            return Ok(());
        }
        let (trigger, full) = match self.store.take_follow_up().map_err(store_error)? {
            Some(true) => (Trigger::Full, true),
            Some(false) => (Trigger::Webhook, false),
            None => (Trigger::Alarm, self.refresh_due()),
        };
        let run = self.start_run(trigger, full).map_err(store_error)?;
        self.invoke(run.id).await?;
        Ok(())
    }

    async fn sync_now(&self, wait: bool, full: bool) -> Result<Response> {
        let timestamp = to_rfc3339(now());
        let state = self.store.state().map_err(store_error)?;
        if let Some(run_id) = state.active_run_id {
            self.store.queue_follow_up(full).map_err(store_error)?;
            let run = self.store.run(run_id as u64).map_err(store_error)?;
            log(json!({"event": "run_queued", "behind": run_id, "full": full}));
            return json_response(
                202,
                &json!({
                    "success": true, "message": "KV sync already running", "timestamp": timestamp,
                    "run": run.view(now()), "queued": true,
                }),
            );
        }
        let trigger = if full {
            Trigger::Full
        } else {
            Trigger::Webhook
        };
        let run = self.start_run(trigger, full).map_err(store_error)?;
        if !wait {
            self.arm(now()).await?;
            return json_response(
                202,
                &json!({
                    "success": true, "message": "KV sync started; continuing in background",
                    "timestamp": timestamp, "run": run.view(now()),
                }),
            );
        }
        let ended = self.invoke(run.id).await?;
        ended.response(timestamp)
    }
}
