//! The sync coordinator: the Durable Object that owns the cursor, the run
//! lease and the alarm. It is glue: it reads its state from the store, asks
//! `crate::coordination` what to do, and does it (store, alarm, log,
//! answer). Every path leaves an alarm armed.

mod alerts;
mod dry_run;
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
use crate::coordination::params::SyncParams;
use crate::coordination::reply::{self, Reply};
use crate::coordination::syncs::DEFAULT_SYNC;
use crate::engine::error::StoreError;
use crate::engine::read_ahead::ReadAhead;
use crate::engine::time::{to_rfc3339, Micros, MICROS_PER_MILLI};
use crate::kv::bulk_wire::RequestBudget;
use crate::runtime::worker::WorkerRuntime;
use crate::runtime::Runtime;
use crate::store::durable::DurableSql;
use crate::store::Store;
pub use settings::setting;
use settings::Settings;

/// The header that tells a coordinator which sync it serves: set by the
/// Worker's routes on every request, remembered for the alarms.
pub const SYNC_HEADER: &str = "X-KV-Sync-Name";

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
    /// The sync's configuration, read once its name is known: vars and
    /// secrets are fixed for an object's lifetime (changing them deploys a
    /// new version). A bad one is reported by every run until it is fixed.
    settings: RefCell<Rc<Settings>>,
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
        // An alarm carries no request: the object remembers its sync.
        let name = store
            .sync_name()
            .ok()
            .flatten()
            .unwrap_or_else(|| DEFAULT_SYNC.into());
        let settings = RefCell::new(Rc::new(Settings::read(&env, &name)));
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
        if let Some(name) = req.headers().get(SYNC_HEADER)? {
            self.adopt_name(&name)?;
        }
        // Any request is a chance to repair a lost alarm (and a fresh
        // object gets its first one here).
        self.ensure_alarm().await?;
        let url = req.url()?;
        match url.path() {
            "/sync" => {
                // The route checked the flags; they arrive spelled plainly.
                let pairs: Vec<(String, String)> = url
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let params = SyncParams::read(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                let request = RunRequest {
                    full: params.full,
                    rewrite: params.rewrite,
                    allow_mass_delete: params.allow_mass_delete,
                };
                if params.dry_run {
                    return self.dry_run(request).await;
                }
                self.sync_now(params.wait, request).await
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
    /// The sync's settings as they stand (a shared handle, so no borrow is
    /// held across an await).
    fn settings(&self) -> Rc<Settings> {
        self.settings.borrow().clone()
    }

    /// Learns which sync this object serves, from the first request that
    /// says so, and keeps it for the alarms.
    fn adopt_name(&self, name: &str) -> Result<()> {
        if self.settings.borrow().name == name {
            return Ok(());
        }
        self.store.set_sync_name(name)?;
        *self.settings.borrow_mut() = Rc::new(Settings::read(&self.env, name));
        Ok(())
    }

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
        let at = watchdog(&state, self.runtime.now(), self.settings().sync());
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
        self.alert_on_alarm().await;
        let state = self.store.state()?;
        let now = self.runtime.now();
        match on_alarm(&state, now, self.settings().sync()) {
            AlarmAction::Sleep { until } | AlarmAction::WaitForLease { until } => {
                self.arm(until).await
            }
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
        match on_webhook(&state, request, now, self.settings().sync()) {
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
