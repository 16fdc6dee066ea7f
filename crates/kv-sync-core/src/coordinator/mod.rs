//! The sync coordinator: the one object per sync that owns the cursor, the
//! run lease and the alarm. It reads its state from the store, asks
//! `policy` what to do, and does it (store, alarm, log, answer); every path
//! leaves an alarm armed.
//!
//! It is generic over its ports — the storage (`Sql` plus an `Alarm`), the
//! `Runtime` and the `Environment` (vars, secrets, KV namespaces) — so the
//! very code the Durable Object runs is driven by host tests with SQLite, a
//! scripted runtime and an in-memory KV. The Workers shell only forwards
//! `fetch` and `alarm` here.

mod alert_delivery;
mod configured;
mod dry_run;
mod explain;
mod invocation;
pub mod policy;
pub mod ports;
mod push;
mod status_report;
mod triggers;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::json;

use crate::engine::error::StoreError;
use crate::engine::limits::RunLimits;
use crate::engine::read_ahead::ReadAhead;
use crate::engine::record::ContentHash;
use crate::engine::time::{to_rfc3339, Micros};
use crate::push::key_set::KeySet;
use crate::runtime::Runtime;
use crate::settings::deployment::Settings;
use crate::settings::syncs::DEFAULT_SYNC;
use crate::store::sql::Sql;
use crate::store::Store;
pub use configured::Configured;
use policy::decide::watchdog;
use policy::params::SyncParams;
use policy::reply::Reply;
use policy::schedule::{interval, sooner};
use policy::sync_state::SyncState;
use policy::write_settings::WriteSettings;
use ports::{Alarm, Connect, Context, Environment};

/// The header that tells a coordinator which sync it serves: set by the
/// Worker's routes on every request, remembered for the alarms.
pub const SYNC_HEADER: &str = "X-KV-Sync-Name";

/// A request the Worker's routes forwarded, after auth and checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `/sync`, `/status`, `/ensure-alarm`, `/push` or `/keys/KEY` (the key
    /// percent-encoded).
    pub path: String,
    /// The query's pairs, decoded.
    pub query: Vec<(String, String)>,
    /// The sync named by `SYNC_HEADER`.
    pub sync: Option<String>,
    /// The `Authorization` header of a push (its OIDC token).
    pub authorization: Option<String>,
    /// The body of a push.
    pub body: String,
}

pub struct Coordinator<S, R, E, C = Configured> {
    store: Store<S>,
    runtime: R,
    env: E,
    /// Where runs read and write.
    connection: C,
    /// Set when the schema could not be migrated: every request reports it.
    broken: Option<String>,
    /// The sync's configuration, read once its name is known: vars and
    /// secrets are fixed for an object's lifetime. A bad one is reported by
    /// every run until it is fixed.
    settings: RefCell<Rc<Settings>>,
    /// The next result page, read while the last invocation wrote.
    read_ahead: RefCell<Option<ReadAhead>>,
    /// Set once this object has applied what its settings changed.
    deploy_applied: Cell<bool>,
    /// Google's keys that sign push tokens, as last fetched.
    key_set: RefCell<KeySet>,
    /// The digest of the result schema last kept for pushes.
    kept_schema: Cell<Option<ContentHash>>,
}

impl<S: Sql + Alarm, R: Runtime, E: Environment> Coordinator<S, R, E> {
    /// The coordinator of a freshly started object, reading and writing
    /// where its settings say.
    pub fn new(storage: S, runtime: R, env: E) -> Self {
        Coordinator::with_connection(storage, runtime, env, Configured::default())
    }
}

impl<S, R, E, C> Coordinator<S, R, E, C>
where
    S: Sql + Alarm,
    R: Runtime,
    E: Environment,
    C: Connect<S, R, E>,
{
    /// A coordinator whose runs read and write through `connection`: it
    /// migrates the schema and reads the settings of the sync it serves (an
    /// alarm carries no request, so the object remembers its sync).
    pub fn with_connection(storage: S, runtime: R, env: E, connection: C) -> Self {
        let store = Store::new(storage);
        let broken = store
            .migrate(runtime.now())
            .err()
            .map(|e| format!("schema migration failed: {e}"));
        if let Some(b) = &broken {
            runtime.log(&json!({"event": "migration_failed", "error": b}));
        }
        let name = store
            .sync_name()
            .ok()
            .flatten()
            .unwrap_or_else(|| DEFAULT_SYNC.into());
        let settings = RefCell::new(Rc::new(Settings::read(&env, &name)));
        Coordinator {
            store,
            runtime,
            env,
            connection,
            broken,
            settings,
            read_ahead: RefCell::new(None),
            deploy_applied: Cell::new(false),
            key_set: RefCell::new(KeySet::default()),
            kept_schema: Cell::new(None),
        }
    }

    /// The store, for the shell's and the tests' inspection.
    pub fn store(&self) -> &Store<S> {
        &self.store
    }

    pub fn runtime(&self) -> &R {
        &self.runtime
    }

    /// What a connection is opened with, under `settings`.
    fn context<'a>(&'a self, settings: &'a Settings) -> Context<'a, S, R, E> {
        Context {
            settings,
            store: &self.store,
            runtime: &self.runtime,
            env: &self.env,
        }
    }

    /// Answers a forwarded request. A storage failure is returned as an
    /// error: the platform answers 500 and nothing half-done is reported.
    pub async fn fetch(&self, request: Request) -> Result<Reply, StoreError> {
        if let Some(b) = &self.broken {
            return Ok(Reply::error(500, b));
        }
        if let Some(name) = &request.sync {
            self.adopt_name(name)?;
        }
        self.apply_deploy().await?;
        // Any request is a chance to repair a lost alarm (and a fresh
        // object gets its first one here).
        self.ensure_alarm().await?;
        match request.path.as_str() {
            "/sync" => {
                let pairs = request.query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
                match SyncParams::read(pairs) {
                    Ok(params) if params.dry_run => self.dry_run(params.mode).await,
                    Ok(params) => self.sync_now(params.wait, params.mode).await,
                    Err(e) => Ok(Reply::error(400, &e.to_string())),
                }
            }
            "/status" => self.status().await,
            "/push" => {
                self.push(request.authorization.as_deref(), &request.body)
                    .await
            }
            "/ensure-alarm" => Ok(Reply::json(
                200,
                &json!({"success": true, "next_alarm_at": self.store.sql().alarm_at().await?.map(to_rfc3339)}),
            )),
            path if path.starts_with("/keys/") => self.explain_key(&path["/keys/".len()..]).await,
            _ => Ok(Reply::error(404, "no such coordinator route")),
        }
    }

    /// The alarm fired. Whatever happened, the object is never left without
    /// an alarm; only a failure to arm one is returned (the platform then
    /// retries the alarm).
    pub async fn alarm(&self) -> Result<(), StoreError> {
        if let Err(e) = self.apply_deploy().await {
            self.runtime
                .log(&json!({"event": "alarm_error", "error": e.to_string()}));
        }
        if let Err(e) = self.on_alarm().await {
            self.runtime
                .log(&json!({"event": "alarm_error", "error": e.to_string()}));
        }
        self.ensure_alarm().await
    }

    /// The sync's settings as they stand (a shared handle, so no borrow is
    /// held across an await).
    fn settings(&self) -> Rc<Settings> {
        self.settings.borrow().clone()
    }

    /// The limits an invocation under `settings` works within, as the
    /// connection takes them.
    fn run_limits(&self, settings: &Settings) -> RunLimits {
        self.connection
            .limits(RunLimits::from_config(settings.sync()))
    }

    /// Learns which sync this object serves, from the first request that
    /// says so, and keeps it for the alarms.
    fn adopt_name(&self, name: &str) -> Result<(), StoreError> {
        if self.settings.borrow().name == name {
            return Ok(());
        }
        self.store.set_sync_name(name)?;
        *self.settings.borrow_mut() = Rc::new(Settings::read(&self.env, name));
        Ok(())
    }

    /// A deploy's settings take effect the first time the object wakes
    /// after it (every deploy starts objects afresh): a shorter
    /// `SYNC_INTERVAL_SECONDS` moves the next scheduled run forward now,
    /// not after the old schedule, and a changed way of writing values asks
    /// the next run to write them all again.
    async fn apply_deploy(&self) -> Result<(), StoreError> {
        if self.deploy_applied.replace(true) {
            return Ok(());
        }
        let state = self.store.state()?;
        self.note_write_settings(&state)?;
        if state.active_run.is_some() || state.follow_up.is_some() {
            return Ok(());
        }
        let last_end = self
            .store
            .recent_runs(1)?
            .first()
            .and_then(|r| r.finished_at);
        let every = interval(self.settings().sync());
        let Some(at) = sooner(state.next_sync_at, last_end, every) else {
            return Ok(());
        };
        self.store.reschedule(at)?;
        self.runtime.log(
            &json!({"event": "schedule_moved", "next_sync_at": to_rfc3339(at),
            "interval_seconds": self.settings().sync().interval_seconds}),
        );
        self.arm(at).await
    }

    /// Records how this sync writes values, and asks for a rewrite when a
    /// deploy changed it (a TTL, a key prefix, a binding or namespace).
    fn note_write_settings(&self, state: &SyncState) -> Result<(), StoreError> {
        let settings = self.settings();
        let Ok(run) = settings.run() else {
            return Ok(());
        };
        let now = WriteSettings::of(run);
        let (rewrite, retired) = match &state.write_settings {
            Some(before) if *before == now => return Ok(()),
            Some(before) => (
                now.rewrite_reason(before),
                now.retired_prefixes(before, &state.retired_prefixes),
            ),
            None => (None, Vec::new()),
        };
        if let Some(reason) = &rewrite {
            self.runtime.log(
                &json!({"event": "rewrite_due", "reason": reason, "retired_prefixes": retired}),
            );
        }
        self.store
            .note_write_settings(&now, rewrite.as_deref(), &retired)
    }

    async fn arm(&self, at: Micros) -> Result<(), StoreError> {
        self.store.sql().set_alarm(at).await
    }

    /// Arms the alarm if none is set.
    async fn ensure_alarm(&self) -> Result<(), StoreError> {
        if self.store.sql().alarm_at().await?.is_some() {
            return Ok(());
        }
        let state = self.store.state()?;
        let at = watchdog(&state, self.runtime.now(), self.settings().sync());
        self.runtime
            .log(&json!({"event": "alarm_rearmed", "at": to_rfc3339(at)}));
        self.arm(at).await
    }
}
