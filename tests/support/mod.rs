//! In-memory stand-ins for the engine's ports, with injectable faults, and a
//! small driver that plays the coordinator's part: it restarts an invocation
//! from the stored checkpoint after every failure, as a crashed Durable
//! Object would be restarted, and hands a page read ahead from one
//! invocation to the next, as a live one does.
#![allow(dead_code)]

pub mod fakes;
pub mod rng;

use kv_sync::engine::checkpoint::RunProgress;
use kv_sync::engine::cursor::Cursor;
use kv_sync::engine::lease::RunLease;
use kv_sync::engine::limits::RunLimits;
use kv_sync::engine::read_ahead::ReadAhead;
use kv_sync::engine::run::{Engine, Outcome, Report, Waited};
use kv_sync::engine::time::{Micros, MICROS_PER_SECOND};

use fakes::{FakeClock, FakeKv, FakeStore, FakeWarehouse};

pub const QUERY: &str = "SELECT * FROM test.source";

pub struct World {
    pub warehouse: FakeWarehouse,
    pub kv: FakeKv,
    pub store: FakeStore,
    pub clock: FakeClock,
    pub limits: RunLimits,
    pub lookback: Micros,
    /// What the last invocation read ahead; a failure forgets it, as a
    /// restarted object would.
    pub read_ahead: Option<ReadAhead>,
}

impl World {
    pub fn new(limits: RunLimits) -> Self {
        World {
            warehouse: FakeWarehouse::default(),
            kv: FakeKv::default(),
            store: FakeStore::default(),
            clock: FakeClock::new(1_767_225_600 * MICROS_PER_SECOND),
            limits,
            lookback: 600 * MICROS_PER_SECOND,
            read_ahead: None,
        }
    }

    /// Starts a run the way the coordinator does: from the cursor minus the
    /// lookback, or from the beginning for a full run.
    pub fn start_run(&mut self, full: bool) -> RunProgress {
        let since = match (&self.store.cursor, full) {
            (Some(c), false) => c.updated_at - self.lookback,
            _ => kv_sync::engine::time::BEGINNING_OF_TIME,
        };
        let run_id = self.store.next_run_id();
        let progress = RunProgress::new(run_id, since);
        self.store.begin_run(progress.clone());
        progress
    }

    /// One invocation under a freshly acquired lease, from the stored
    /// checkpoint (never from in-memory state: that died with the "crash").
    pub async fn invoke(&mut self) -> Report {
        let progress = self.store.run.clone().expect("a run is active");
        let now = self.clock.now_micros();
        let lease = RunLease::acquire(
            self.store.lease.as_ref(),
            progress.run_id,
            now,
            self.limits.lease_ttl,
        )
        .unwrap_or_else(|holder| {
            // A test never leaves a live holder behind: expire it, as
            // time passing would.
            RunLease::acquire(
                Some(&RunLease {
                    expires_at: now,
                    ..holder
                }),
                progress.run_id,
                now,
                self.limits.lease_ttl,
            )
            .unwrap()
        });
        self.store.lease = Some(lease);
        let mut engine = Engine {
            warehouse: &mut self.warehouse,
            sink: &mut self.kv,
            store: &mut self.store,
            clock: &self.clock,
            limits: &self.limits,
            query: QUERY,
            fence: lease.fence,
            waited: Waited::default(),
            read_ahead: self.read_ahead.take(),
        };
        let mut report = engine.run_invocation(progress).await;
        if !matches!(report.outcome, Outcome::Failed(_)) {
            self.read_ahead = report.read_ahead.take();
        }
        report
    }

    /// Drives the active run to completion, restarting after every failure.
    /// Returns the number of invocations it took.
    pub async fn run_to_completion(&mut self, max_invocations: usize) -> usize {
        for n in 1..=max_invocations {
            let report = self.invoke().await;
            match report.outcome {
                Outcome::Completed => {
                    self.store.end_run();
                    return n;
                }
                Outcome::Paused(_) | Outcome::Failed(_) => {
                    self.clock.advance(MICROS_PER_SECOND);
                }
            }
        }
        panic!("run did not complete in {max_invocations} invocations");
    }

    /// A whole run, start to finish.
    pub async fn sync(&mut self, full: bool) -> usize {
        self.start_run(full);
        self.run_to_completion(100_000).await
    }

    pub fn cursor(&self) -> Option<Cursor> {
        self.store.cursor.clone()
    }
}

/// Runs a future to completion on the current thread. The engine's futures
/// only await the fakes, which are always ready, so no reactor is needed.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}
