//! The sync coordinator: the Durable Object that owns the cursor, the run
//! lease and the alarm. It is glue: it reads its state from the store, asks
//! `crate::coordination` what to do, and does it (store, alarm, log,
//! answer). Every path leaves an alarm armed.

mod invocation;
mod settings;
mod setup;
mod status;

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::json;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::bigquery::credentials::AccessToken;
use crate::coordination::decide::{
    on_alarm, on_webhook, watchdog, AlarmAction, RunRequest, RunStart, WebhookAction,
};
use crate::coordination::reply::{self, Reply};
use crate::engine::error::StoreError;
use crate::engine::read_ahead::ReadAhead;
use crate::engine::time::{to_rfc3339, Micros, MICROS_PER_MILLI};
use crate::kv::bulk_wire::RequestBudget;
use crate::runtime::worker::WorkerRuntime;
use crate::runtime::Runtime;
use crate::store::durable::DurableSql;
use crate::store::Store;
use settings::Settings;

/// The default sync's coordinator instance name: one cursor per deployment.
pub const INSTANCE: &str = "kv-sync";

#[durable_object]
pub struct SyncCoordinator {
    state: State,
    env: Env,
    runtime: WorkerRuntime,
    store: Store<DurableSql>,
    /// Set when the schema could not be migrated: every request reports it.
    broken: Option<String>,
    /// The BigQuery access token last used, with its service account.
    token: RefCell<Option<(String, AccessToken)>>,
    /// The configuration, read once: vars and secrets are fixed for an
    /// object's lifetime (changing them deploys a new version). A bad one is
    /// reported by every run until it is fixed.
    settings: Settings,
    /// The KV bulk API token's request budget, across invocations.
    bulk_budget: Rc<RefCell<RequestBudget>>,
    /// The next result page, read while the last invocation wrote.
    read_ahead: RefCell<Option<ReadAhead>>,
}

fn json_response(reply: Reply) -> Result<Response> {
    let headers = worker::Headers::new();
    headers.set("Content-Type", "application/json")?;
    Ok(Response::ok(reply.body)?
        .with_status(reply.status)
        .with_headers(headers))
}

/// A storage failure inside a request or an alarm: the runtime reports it
/// (the alarm is retried; a request answers 500).
impl From<StoreError> for worker::Error {
    fn from(e: StoreError) -> Self {
        worker::Error::RustError(e.to_string())
    }
}

impl DurableObject for SyncCoordinator {
    fn new(state: State, env: Env) -> Self {
        let runtime = WorkerRuntime;
        // workers-rs binds `ctx.storage.sql` but not `transactionSync`: the
        // raw storage object is kept for it.
        let raw = state._inner();
        let storage = raw
            .storage()
            .map(wasm_bindgen::JsValue::from)
            .unwrap_or_default();
        let state = State::from(raw);
        let store = Store::new(DurableSql::new(state.storage().sql(), storage));
        let broken = store
            .migrate(runtime.now())
            .err()
            .map(|e| format!("schema migration failed: {e}"));
        if let Some(b) = &broken {
            runtime.log(&json!({"event": "migration_failed", "error": b}));
        }
        let settings = Settings::read(&env);
        SyncCoordinator {
            state,
            env,
            runtime,
            store,
            broken,
            token: RefCell::new(None),
            settings,
            bulk_budget: Rc::default(),
            read_ahead: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        if let Some(b) = &self.broken {
            return json_response(Reply::error(500, b));
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
                let request = RunRequest {
                    full: flag("full").as_deref() == Some("true"),
                    rewrite: flag("rewrite").as_deref() == Some("true"),
                    allow_mass_delete: flag("allow_mass_delete").as_deref() == Some("true"),
                };
                self.sync_now(wait, request).await
            }
            "/status" => self.status().await,
            "/ensure-alarm" => json_response(Reply::json(
                200,
                &json!({"success": true, "next_alarm_at": self.next_alarm().await?.map(to_rfc3339)}),
            )),
            _ => json_response(Reply::error(404, "no such coordinator route")),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if let Err(e) = self.on_alarm().await {
            self.runtime
                .log(&json!({"event": "alarm_error", "error": e.to_string()}));
        }
        // Whatever happened, the object is never left without an alarm.
        self.ensure_alarm().await?;
        Response::ok("")
    }
}

impl SyncCoordinator {
    /// Sets the alarm to an absolute time.
    async fn arm(&self, at: Micros) -> Result<()> {
        let at = chrono::DateTime::from_timestamp_micros(at).unwrap_or_default();
        self.state.storage().set_alarm(at).await
    }

    async fn next_alarm(&self) -> Result<Option<Micros>> {
        Ok(self
            .state
            .storage()
            .get_alarm()
            .await?
            .map(|ms| ms * MICROS_PER_MILLI))
    }

    /// Arms the alarm if none is set.
    async fn ensure_alarm(&self) -> Result<()> {
        if self.next_alarm().await?.is_some() {
            return Ok(());
        }
        let state = self.store.state()?;
        let at = watchdog(&state, self.runtime.now(), self.settings.sync());
        self.runtime
            .log(&json!({"event": "alarm_rearmed", "at": to_rfc3339(at)}));
        self.arm(at).await
    }

    /// Records a new run and logs its start.
    fn begin(&self, start: &RunStart) -> std::result::Result<u64, StoreError> {
        let progress = self.store.create_run(start, self.runtime.now())?;
        self.runtime.log(
            &json!({"event": "run_started", "run": progress.run_id, "trigger": start.trigger,
                                "since": to_rfc3339(start.since), "full": start.mode.full,
                    "rewrite": start.mode.rewrite, "reason": start.reason}),
        );
        Ok(progress.run_id)
    }

    async fn on_alarm(&self) -> Result<()> {
        let state = self.store.state()?;
        let now = self.runtime.now();
        match on_alarm(&state, now, self.settings.sync()) {
            AlarmAction::WaitForLease { until } => self.arm(until).await,
            AlarmAction::Continue { run_id } => self.invoke(run_id).await.map(drop),
            AlarmAction::Start(start) => {
                if state.follow_up.is_some() {
                    self.store.clear_follow_up()?;
                }
                let run_id = self.begin(&start)?;
                self.invoke(run_id).await.map(drop)
            }
        }
    }

    async fn sync_now(&self, wait: bool, request: RunRequest) -> Result<Response> {
        let now = self.runtime.now();
        let timestamp = to_rfc3339(now);
        let state = self.store.state()?;
        match on_webhook(&state, request, now, self.settings.sync()) {
            WebhookAction::Queue(follow_up) => {
                self.store.queue_follow_up(follow_up)?;
                let run_id = state.active_run.unwrap_or_default();
                let run = self.store.run(run_id)?;
                self.runtime
                    .log(&json!({"event": "run_queued", "behind": run_id, "full": follow_up.full}));
                json_response(reply::queued(&run, now, &timestamp))
            }
            WebhookAction::Start(start) => {
                let run_id = self.begin(&start)?;
                if !wait {
                    self.arm(now).await?;
                    let run = self.store.run(run_id)?;
                    return json_response(reply::started(&run, now, &timestamp));
                }
                json_response(self.invoke(run_id).await?.with_timestamp(&timestamp))
            }
        }
    }
}
