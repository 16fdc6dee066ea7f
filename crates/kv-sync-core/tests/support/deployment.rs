//! One sync's coordinator as the Durable Object runs it — the real
//! `Coordinator` — over SQLite (with the alarm), the scripted runtime (a
//! paused clock; HTTP answered by `services`) and an in-memory KV. Tests
//! drive it only through its entry points: a forwarded request, or the
//! alarm firing.

use std::collections::HashMap;
use std::rc::Rc;

use serde_json::Value;

use kv_sync_core::coordinator::{Coordinator, Request};
use kv_sync_core::engine::time::{Micros, MICROS_PER_SECOND};
use kv_sync_core::runtime::scripted::ScriptedRuntime;

use super::block_on;
use super::platform::{fire_alarm, map, Storage, TestEnv};
use super::services::{Services, BIGQUERY};
use super::sqlite::Sqlite;

pub const START: Micros = 1_767_225_600 * MICROS_PER_SECOND;

/// The settings every test deployment has.
const BASE: &[(&str, &str)] = &[
    ("BIGQUERY_PROJECT_ID", "test"),
    ("BIGQUERY_API_BASE", BIGQUERY),
    ("SYNC_QUERY", "SELECT key, updated_at, name FROM leads"),
];

pub type TestCoordinator = Coordinator<Storage, ScriptedRuntime, TestEnv>;

pub struct Deployment {
    pub services: Rc<Services>,
    pub storage: Rc<Sqlite>,
    vars: HashMap<String, String>,
    secrets: HashMap<String, String>,
    /// The sync the routes name in every request.
    pub sync: String,
    pub coordinator: TestCoordinator,
}

impl Deployment {
    /// A fresh deployment with `vars` over the base settings.
    pub fn new(vars: &[(&str, &str)]) -> Self {
        Deployment::with_secrets(vars, &[])
    }

    pub fn with_secrets(vars: &[(&str, &str)], secrets: &[(&str, &str)]) -> Self {
        let services = Services::new();
        let storage = Rc::new(Sqlite::default());
        let mut all = map(BASE);
        all.extend(map(vars));
        let secrets = map(secrets);
        let coordinator = start(&storage, &services, &all, &secrets, START);
        Deployment {
            services,
            storage,
            vars: all,
            secrets,
            sync: "default".into(),
            coordinator,
        }
    }

    /// Sync `sync` of the same deployment (the same vars), beside this one:
    /// its own coordinator, storage and source table, its clock set to this
    /// one's, the same KV namespace.
    pub fn beside(&self, sync: &str) -> Self {
        let services = Services::sharing(self.services.kv.clone());
        let storage = Rc::new(Sqlite::default());
        let coordinator = start(&storage, &services, &self.vars, &self.secrets, self.now());
        Deployment {
            services,
            storage,
            vars: self.vars.clone(),
            secrets: self.secrets.clone(),
            sync: sync.into(),
            coordinator,
        }
    }

    /// The object is evicted and started again over the same storage (its
    /// memory — cached token, read-ahead — is gone).
    pub fn restart(&mut self) {
        let now = self.now();
        self.coordinator = start(
            &self.storage,
            &self.services,
            &self.vars,
            &self.secrets,
            now,
        );
    }

    /// Rows in the source table: `(key, seconds from START, name)`.
    pub fn leads(&self, rows: &[(&str, i64, &str)]) {
        let mut table = self.services.table.borrow_mut();
        for (key, at, name) in rows {
            table.upsert(key, START + at * MICROS_PER_SECOND, name);
        }
    }

    /// A deploy: `vars` change, and the object starts again with them.
    pub fn redeploy(&mut self, vars: &[(&str, &str)]) {
        self.vars.extend(map(vars));
        self.restart();
    }

    pub fn runtime(&self) -> &ScriptedRuntime {
        self.coordinator.runtime()
    }

    pub fn now(&self) -> Micros {
        self.runtime().clock.get()
    }

    pub fn advance(&self, by: Micros) {
        self.runtime().clock.set(self.now() + by);
    }

    pub fn alarm_at(&self) -> Option<Micros> {
        self.storage.alarm.get()
    }

    /// The platform fires the alarm: at its time (or now, if that passed),
    /// clearing it first as the platform does.
    pub fn fire_alarm(&self) {
        fire_alarm(&self.storage, &self.coordinator).expect("the alarm handler returns");
    }

    /// A request as the Worker's routes forward it, for `self.sync`.
    pub fn request(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let request = Request {
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            sync: Some(self.sync.clone()),
            ..Request::default()
        };
        let reply = block_on(self.coordinator.fetch(request)).expect("the store answers");
        let body = serde_json::from_str(&reply.body).expect("replies are JSON");
        (reply.status, body)
    }

    /// A Pub/Sub delivery of `body` with `authorization`, as the routes
    /// forward it.
    pub fn push(&self, authorization: Option<&str>, body: &str) -> (u16, Value) {
        let request = Request {
            path: "/push".into(),
            sync: Some(self.sync.clone()),
            authorization: authorization.map(str::to_owned),
            body: body.into(),
            ..Request::default()
        };
        let reply = block_on(self.coordinator.fetch(request)).expect("the store answers");
        let body = serde_json::from_str(&reply.body).expect("replies are JSON");
        (reply.status, body)
    }

    pub fn webhook(&self, query: &[(&str, &str)]) -> (u16, Value) {
        self.request("/sync", query)
    }

    pub fn status(&self) -> Value {
        let (status, body) = self.request("/status", &[]);
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The log lines with this `event`.
    pub fn logs(&self, event: &str) -> Vec<Value> {
        self.runtime()
            .logs
            .borrow()
            .iter()
            .filter(|l| l["event"] == event)
            .cloned()
            .collect()
    }

    /// Fires alarms until none is due within `horizon` and no run is active.
    pub fn settle(&self, horizon: Micros) {
        for _ in 0..1_000 {
            let active = self.coordinator.store().state().unwrap().active_run;
            match self.alarm_at() {
                Some(at) if active.is_some() || at <= self.now() + horizon => self.fire_alarm(),
                _ => return,
            }
        }
        panic!("the coordinator never settled");
    }
}

fn start(
    storage: &Rc<Sqlite>,
    services: &Rc<Services>,
    vars: &HashMap<String, String>,
    secrets: &HashMap<String, String>,
    now: Micros,
) -> TestCoordinator {
    let runtime = ScriptedRuntime::default();
    runtime.clock.set(now);
    let answering = services.clone();
    let clock = runtime.clock.clone();
    *runtime.responder.borrow_mut() = Some(Box::new(move |sent| {
        let answer = answering.respond(sent);
        if sent.url.starts_with(BIGQUERY) && answer.body.contains("\"rows\"") {
            clock.set(clock.get() + answering.page_latency.get());
        }
        answer
    }));
    let env = TestEnv {
        vars: vars.clone(),
        secrets: secrets.clone(),
        kv: services.kv.clone(),
    };
    Coordinator::new(Storage(storage.clone()), runtime, env)
}
