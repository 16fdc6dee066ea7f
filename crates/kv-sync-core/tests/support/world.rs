//! The host test world for the engine's suites: the real `Coordinator` over
//! SQLite (faulted at will), the scripted runtime (a clock the tests move)
//! and the fakes as its connection. Tests act only as the platform and the
//! user do: a webhook asks for a run, the alarm fires. Every invocation is
//! the coordinator's own; nothing here takes a lease, settles or records.

use std::cell::RefMut;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde_json::Value;

use kv_sync_core::coordinator::policy::status::{RunRecord, RunStatus};
use kv_sync_core::coordinator::{Coordinator, Request};
use kv_sync_core::engine::cursor::Cursor;
use kv_sync_core::engine::limits::RunLimits;
use kv_sync_core::engine::progress::RunMode;
use kv_sync_core::engine::time::{Micros, MICROS_PER_SECOND};
use kv_sync_core::runtime::scripted::ScriptedRuntime;
use kv_sync_core::store::sql::Sql;
use kv_sync_core::store::Store;

use super::block_on;
use super::fakes::connection::Fakes;
use super::fakes::kv::FakeKv;
use super::fakes::warehouse::FakeWarehouse;
use super::memory_kv::MemoryKv;
use super::platform::{self, map, Storage, TestEnv};
use super::pubsub::{certs_answer, claims, envelope, token};
use super::services::CERTS;
use super::sqlite::Sqlite;

pub const QUERY: &str = "SELECT * FROM test.source";
pub const START: Micros = 1_767_225_600 * MICROS_PER_SECOND;

type WorldCoordinator = Coordinator<Storage, ScriptedRuntime, TestEnv, Fakes>;

/// How one invocation ended, as its log line says.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    /// `run_completed`, `run_paused`, `run_failed` or `run_lease_lost`.
    pub event: String,
    /// Why it paused (`WriteBudget`, `TimeBudget`, …), or the error.
    pub reason: Option<String>,
    pub error: Option<String>,
    /// The run as stored after it.
    pub run: RunRecord,
}

impl Invocation {
    pub fn paused(&self, why: &str) -> bool {
        self.event == "run_paused" && self.reason.as_deref() == Some(why)
    }
}

pub struct World {
    pub fakes: Fakes,
    pub storage: Rc<Sqlite>,
    vars: HashMap<String, String>,
    /// The sync the webhook names.
    sync: String,
    coordinator: WorldCoordinator,
}

impl World {
    pub fn new(limits: RunLimits) -> Self {
        World::with_vars(limits, &[])
    }

    pub fn with_vars(limits: RunLimits, vars: &[(&str, &str)]) -> Self {
        let fakes = Fakes::new(RunLimits {
            // A crashed holder's lease lapses one tick of the test later.
            lease_ttl: MICROS_PER_SECOND,
            ..limits
        });
        let storage = Rc::new(Sqlite::default());
        let mut all = map(&[("SYNC_QUERY", QUERY)]);
        all.extend(map(vars));
        let coordinator = start(&storage, &fakes, &all, START);
        World {
            fakes,
            storage,
            vars: all,
            sync: "default".into(),
            coordinator,
        }
    }

    /// A named sync (a `SYNCS` entry) writing under `key_prefix`.
    pub fn named(limits: RunLimits, name: &str, key_prefix: &str) -> Self {
        let entry = serde_json::json!([{"name": name, "query": QUERY, "key_prefix": key_prefix}]);
        let mut world = World::with_vars(limits, &[("SYNCS", &entry.to_string())]);
        world.sync = name.into();
        world
    }

    /// This sync writes into the namespace `other` writes into.
    pub fn share_kv_with(&mut self, other: &World) {
        self.fakes.kv = other.fakes.kv.clone();
        self.deploy(&[]);
    }

    /// A deploy: new vars, the object started again over the same storage.
    pub fn deploy(&mut self, vars: &[(&str, &str)]) {
        self.vars.extend(map(vars));
        let now = self.now();
        self.coordinator = start(&self.storage, &self.fakes, &self.vars, now);
    }

    pub fn warehouse(&self) -> RefMut<'_, FakeWarehouse> {
        self.fakes.warehouse.borrow_mut()
    }

    /// Pub/Sub delivers `row` (as `TO_JSON_STRING` renders it) to
    /// `POST /push` with a valid token; the status, or `None` when the store
    /// failed (the platform answers 500 and Pub/Sub delivers it again).
    pub fn push(&self, row: &Value) -> Option<u16> {
        let request = Request {
            path: "/push".into(),
            sync: Some(self.sync.clone()),
            authorization: Some(format!("Bearer {}", token(&claims(self.now()), "google-1"))),
            body: envelope(row),
            ..Request::default()
        };
        block_on(self.coordinator.fetch(request))
            .ok()
            .map(|r| r.status)
    }

    pub fn kv(&self) -> RefMut<'_, FakeKv> {
        self.fakes.kv.borrow_mut()
    }

    pub fn limits(&self) -> RefMut<'_, RunLimits> {
        self.fakes.limits.borrow_mut()
    }

    pub fn store(&self) -> &Store<Storage> {
        self.coordinator.store()
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

    /// Moves the clock `tick` on every reading (0: only when told).
    pub fn tick(&self, tick: Micros) {
        self.runtime().tick.set(tick);
    }

    pub fn state(&self) -> kv_sync_core::coordinator::policy::sync_state::SyncState {
        self.store().state().expect("the state reads")
    }

    /// Asks for a run as the webhook does, answering at once (`wait=false`):
    /// the alarm does the work.
    pub fn start_run(&mut self, full: bool) {
        self.start_run_with(RunMode {
            full,
            ..RunMode::default()
        });
    }

    pub fn start_run_with(&mut self, mode: RunMode) {
        let flag = |on: bool| if on { "true" } else { "false" }.to_string();
        let request = Request {
            path: "/sync".into(),
            query: vec![
                ("wait".into(), "false".into()),
                ("full".into(), flag(mode.full)),
                ("rewrite".into(), flag(mode.rewrite)),
                ("allow_mass_delete".into(), flag(mode.allow_mass_delete)),
            ],
            sync: Some(self.sync.clone()),
            ..Request::default()
        };
        // A store that fails mid-request is a crash: the user asks again.
        for _ in 0..1_000 {
            if let Ok(reply) = block_on(self.coordinator.fetch(request.clone())) {
                if reply.status < 300 {
                    return;
                }
            }
            self.advance(MICROS_PER_SECOND);
        }
        panic!("the webhook never started a run");
    }

    /// The cron trigger's re-arm (`/ensure-alarm`), as the Worker's
    /// scheduled handler sends it; a failing store is retried by the next.
    pub fn cron(&self) {
        let request = Request {
            path: "/ensure-alarm".into(),
            query: Vec::new(),
            sync: Some(self.sync.clone()),
            ..Request::default()
        };
        let _ = block_on(self.coordinator.fetch(request));
    }

    /// The alarm fires at its time (or now, if that passed), as the platform
    /// fires it: cleared first, then the handler runs. Returns how the
    /// invocation it made ended, if it made one.
    pub fn fire_alarm(&self) -> Option<Invocation> {
        let logged = self.runtime().logs.borrow().len();
        // A failing handler is retried by the platform: its error is logged.
        let _ = platform::fire_alarm(&self.storage, &self.coordinator);
        let logs = self.runtime().logs.borrow();
        const ENDS: &[&str] = &[
            "run_completed",
            "run_paused",
            "run_failed",
            "run_lease_lost",
        ];
        let line = logs[logged..]
            .iter()
            .rev()
            .find(|l| ENDS.iter().any(|e| l["event"] == *e))?;
        let text = |v: &Value| v.as_str().map(str::to_string);
        let run_id = line["run"].as_u64()?;
        Some(Invocation {
            event: text(&line["event"])?,
            reason: text(&line["reason"]),
            error: text(&line["error"]),
            run: self.store().run(run_id).ok()?,
        })
    }

    /// One invocation of the active run: the alarm fires (a pause re-arms it
    /// at once; a crashed holder's lease lapses a tick later).
    pub fn invoke(&self) -> Invocation {
        for _ in 0..100 {
            if let Some(invocation) = self.fire_alarm() {
                return invocation;
            }
            self.advance(MICROS_PER_SECOND);
        }
        panic!("no invocation ran");
    }

    /// Fires alarms until the run that is active completes, a failed run
    /// asked again by the user who wanted it. Returns the invocations made.
    pub fn run_to_completion(&mut self, max_invocations: usize) -> usize {
        let mode = self
            .state()
            .active_run
            .and_then(|id| self.store().progress(id).ok())
            .map_or_else(RunMode::default, |p| p.mode);
        for n in 1..=max_invocations {
            let invocation = self.invoke();
            if invocation.event == "run_completed" && self.state().active_run.is_none() {
                return n;
            }
            if invocation.run.status == RunStatus::Failed && self.state().active_run.is_none() {
                self.start_run_with(mode);
            }
            self.advance(MICROS_PER_SECOND);
        }
        panic!("run did not complete in {max_invocations} invocations");
    }

    /// A whole run, start to finish.
    pub fn sync(&mut self, full: bool) -> usize {
        self.start_run(full);
        self.run_to_completion(100_000)
    }

    pub fn sync_with(&mut self, mode: RunMode) -> usize {
        self.start_run_with(mode);
        self.run_to_completion(100_000)
    }

    /// The alarm at the current time when nothing is running: starts the
    /// run the coordinator decides on and runs it to completion, or sleeps
    /// until the scheduled run. Returns whether it ran a full read.
    pub fn alarm(&mut self) -> Option<bool> {
        assert!(self.state().active_run.is_none(), "no run between alarms");
        self.storage.alarm.set(Some(self.now()));
        let invocation = self.fire_alarm()?;
        if self.state().active_run.is_some() || invocation.event != "run_completed" {
            self.run_to_completion(100_000);
        }
        Some(invocation.run.full)
    }

    /// The last run as stored.
    pub fn last_run(&self) -> RunRecord {
        self.store().recent_runs(1).unwrap().remove(0)
    }

    pub fn cursor(&self) -> Option<Cursor> {
        self.state().cursor
    }

    /// The quarantined rows: identity → reason.
    pub fn failed_rows(&self) -> BTreeMap<String, String> {
        self.store()
            .sql()
            .query("SELECT id, reason FROM failed_rows", &[])
            .expect("failed rows read")
            .iter()
            .map(|r| (r.get("id").unwrap(), r.get("reason").unwrap()))
            .collect()
    }

    /// How many hashes the store holds.
    pub fn stored_keys(&self) -> i64 {
        self.store()
            .sql()
            .query("SELECT COUNT(*) AS n FROM key_hashes", &[])
            .unwrap()[0]
            .get("n")
            .unwrap()
    }
}

fn start(
    storage: &Rc<Sqlite>,
    fakes: &Fakes,
    vars: &HashMap<String, String>,
    now: Micros,
) -> WorldCoordinator {
    let runtime = ScriptedRuntime::default();
    runtime.clock.set(now);
    // Google's certificates are all a world's coordinator fetches.
    *runtime.responder.borrow_mut() = Some(Box::new(|sent| {
        assert_eq!(sent.url, CERTS, "a world reaches no other service");
        certs_answer()
    }));
    let env = TestEnv {
        vars: vars.clone(),
        secrets: HashMap::new(),
        kv: MemoryKv::default(),
    };
    Coordinator::with_connection(Storage(storage.clone()), runtime, env, fakes.clone())
}
