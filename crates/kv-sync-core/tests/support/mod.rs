//! The host test world: the engine over in-memory fakes of the warehouse and
//! KV, the coordinator's real store over SQLite, and the coordinator's real
//! decisions (`kv_sync_core::coordinator::policy`). It plays the Durable Object's part
//! the way the Durable Object does: start a run, take the lease, run an
//! invocation, settle it. A failed invocation is treated as a crash (the
//! object died before settling): nothing is recorded and the next
//! invocation takes over once the lease lapses, from the stored checkpoint.
#![allow(dead_code)]

pub mod deployment;
pub mod fakes;
pub mod memory_kv;
pub mod rng;
pub mod services;
pub mod sqlite;

use std::collections::BTreeMap;

use kv_sync_core::coordinator::policy::decide::{on_alarm, start_run, AlarmAction};
use kv_sync_core::coordinator::policy::settle::settle;
use kv_sync_core::coordinator::policy::status::Trigger;
use kv_sync_core::coordinator::policy::sync_state::SyncState;
use kv_sync_core::engine::cursor::Cursor;
use kv_sync_core::engine::limits::RunLimits;
use kv_sync_core::engine::progress::RunMode;
use kv_sync_core::engine::progress::RunProgress;
use kv_sync_core::engine::read_ahead::ReadAhead;
use kv_sync_core::engine::run::{Engine, Outcome, Ports, Report, RunSpec, TimeSpent};
use kv_sync_core::engine::time::MICROS_PER_SECOND;
use kv_sync_core::settings::SyncConfig;
use kv_sync_core::store::Store;

use fakes::clock::FakeClock;
use fakes::kv::FakeKv;
use fakes::warehouse::FakeWarehouse;
use sqlite::Sqlite;

pub const QUERY: &str = "SELECT * FROM test.source";

pub struct World {
    pub warehouse: FakeWarehouse,
    pub kv: FakeKv,
    pub store: Store<Sqlite>,
    pub clock: FakeClock,
    pub config: SyncConfig,
    pub limits: RunLimits,
    /// The sync's key prefix in KV.
    pub key_prefix: String,
    /// What the last invocation read ahead; a failure forgets it, as a
    /// restarted object would.
    pub read_ahead: Option<ReadAhead>,
}

impl World {
    pub fn new(limits: RunLimits) -> Self {
        let store = Store::new(Sqlite::default());
        let clock = FakeClock::new(1_767_225_600 * MICROS_PER_SECOND);
        store
            .migrate(clock.now_micros())
            .expect("the schema applies");
        World {
            warehouse: FakeWarehouse::default(),
            kv: FakeKv::default(),
            store,
            clock,
            config: SyncConfig::default(),
            limits: RunLimits {
                // A crashed holder's lease lapses one tick of the test later.
                lease_ttl: MICROS_PER_SECOND,
                ..limits
            },
            read_ahead: None,
            key_prefix: String::new(),
        }
    }

    pub fn state(&self) -> SyncState {
        self.store.state().expect("the state reads")
    }

    /// Starts a run the way the coordinator does (again, if the object
    /// crashed before the run was recorded).
    pub fn start_run(&mut self, full: bool) -> RunProgress {
        self.start_run_with(RunMode {
            full,
            ..RunMode::default()
        })
    }

    pub fn start_run_with(&mut self, request: RunMode) -> RunProgress {
        loop {
            let now = self.clock.now_micros();
            let start = start_run(&self.state(), Trigger::Webhook, request, now, &self.config);
            match self.store.create_run(&start, now) {
                Ok(progress) => return progress,
                Err(_) => self.clock.advance(MICROS_PER_SECOND),
            }
        }
    }

    /// One invocation of the active run under a freshly taken lease, from
    /// the stored checkpoint (never from in-memory state: that died with a
    /// "crash"), settled as the coordinator settles it.
    pub async fn invoke(&mut self) -> Report {
        let run_id = self.state().active_run.expect("a run is active");
        let now = self.clock.now_micros();
        let progress = self.store.progress(run_id).expect("the checkpoint reads");
        let lease = match self.store.acquire_lease(run_id, now, self.limits.lease_ttl) {
            Ok(lease) => lease.expect("no live holder: a crashed one's lease has lapsed"),
            // The object crashed while taking the lease.
            Err(e) => {
                return Report {
                    progress,
                    outcome: Outcome::Failed(e.into()),
                    time_spent: TimeSpent::default(),
                    read_ahead: None,
                }
            }
        };
        let mut store = &self.store;
        let ports = Ports {
            warehouse: &mut self.warehouse,
            sink: &mut self.kv,
            store: &mut store,
            clock: &self.clock,
        };
        let spec = RunSpec {
            query: QUERY,
            key_prefix: &self.key_prefix,
            limits: &self.limits,
        };
        let mut report = Engine::new(ports, spec, lease.fence)
            .with_read_ahead(self.read_ahead.take())
            .run_invocation(progress)
            .await;
        if !matches!(report.outcome, Outcome::Failed(_)) {
            self.read_ahead = report.read_ahead.take();
            let now = self.clock.now_micros();
            let settlement = settle(
                &report.outcome,
                &report.progress,
                &self.state(),
                now,
                &self.config,
            );
            // A settlement the store refuses is a crash too.
            let _ = self
                .store
                .record_end(lease.fence, &report.progress, &settlement, now);
        }
        report
    }

    /// Drives the active run to completion, restarting after every failure.
    /// Returns the number of invocations it took.
    pub async fn run_to_completion(&mut self, max_invocations: usize) -> usize {
        for n in 1..=max_invocations {
            let report = self.invoke().await;
            if report.outcome == Outcome::Completed && self.state().active_run.is_none() {
                return n;
            }
            self.clock.advance(MICROS_PER_SECOND);
        }
        panic!("run did not complete in {max_invocations} invocations");
    }

    /// A whole run, start to finish.
    pub async fn sync(&mut self, full: bool) -> usize {
        self.start_run(full);
        self.run_to_completion(100_000).await
    }

    pub async fn sync_with(&mut self, request: RunMode) -> usize {
        self.start_run_with(request);
        self.run_to_completion(100_000).await
    }

    /// What the coordinator's alarm does when nothing is running: starts
    /// the run `on_alarm` decides on (an incremental one, or a full read
    /// when one is due) and runs it to completion, or sleeps until the
    /// scheduled run. Returns whether it ran, and whether it read the whole
    /// source.
    pub async fn alarm(&mut self) -> Option<bool> {
        let now = self.clock.now_micros();
        match on_alarm(&self.state(), now, &self.config) {
            AlarmAction::Start(start) => {
                self.store
                    .create_run(&start, now)
                    .expect("the run is recorded");
                self.run_to_completion(100_000).await;
                Some(start.mode.full)
            }
            AlarmAction::Sleep { .. } => None,
            other => panic!("no run is in progress between alarms: {other:?}"),
        }
    }

    /// The last run as stored.
    pub fn last_run(&self) -> kv_sync_core::coordinator::policy::status::RunRecord {
        self.store.recent_runs(1).unwrap().remove(0)
    }

    pub fn cursor(&self) -> Option<Cursor> {
        self.state().cursor
    }

    /// The quarantined rows: identity → reason.
    pub fn failed_rows(&self) -> BTreeMap<String, String> {
        use kv_sync_core::store::sql::Sql;
        self.store
            .sql()
            .query("SELECT id, reason FROM failed_rows", &[])
            .expect("failed rows read")
            .iter()
            .map(|r| (r.get("id").unwrap(), r.get("reason").unwrap()))
            .collect()
    }

    /// How many hashes the store holds.
    pub fn stored_keys(&self) -> i64 {
        use kv_sync_core::store::sql::Sql;
        self.store
            .sql()
            .query("SELECT COUNT(*) AS n FROM key_hashes", &[])
            .unwrap()[0]
            .get("n")
            .unwrap()
    }
}

/// Runs a future to completion on the current thread. The engine's futures
/// only await the fakes, which are always ready, so no reactor is needed.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}
