//! A deterministic simulation of whole deployments: one to three syncs, each
//! a real coordinator over its own SQLite, writing into one KV namespace
//! under their own prefixes. A seeded schedule drives them as the platform
//! and their users would: the source changes (inserts, updates, deletes,
//! rows that arrive late, rows without `updated_at`, keys KV refuses),
//! alarms fire (late, and twice), webhooks ask for runs, objects are
//! evicted, settings are deployed (the interval), the clock jumps, Pub/Sub
//! pushes rows (again, and out of order: `pushes`) — while
//! BigQuery (failing, unfinished and expired jobs), KV (rate limits, partial
//! answers, writes that land with their answer lost) and the storage fail at
//! random.
//!
//! The oracle is checked after every step, not once at the end: no sync
//! changed another's keys; no cursor moved backwards; after a completed run,
//! every row of its window is in KV as the source has it, and after a
//! completed full read KV holds exactly the source, the failed rows counted
//! exactly; storage holds no more keys than the source ever had. Once the
//! faults stop, every sync completes a run within a bounded number of
//! invocations (liveness).
//!
//! `make test` runs `LIFETIMES_IN_TEST` lifetimes; `make soak` runs
//! `SIM_LIFETIMES` of them and prints what they covered. A failing lifetime
//! prints the one-line command that replays its seed (`SIM_TRACE=1` prints
//! each step of the replay).

mod deployment;
mod oracle;
mod pushes;
#[path = "../support/mod.rs"]
mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use kv_sync_core::engine::progress::RunMode;
use kv_sync_core::engine::time::{Micros, MICROS_PER_SECOND};
use support::rng::Rng;

use deployment::{deployment, step};
use oracle::check_step;

const S: Micros = MICROS_PER_SECOND;
const LIFETIMES_IN_TEST: u64 = 2_000;
/// The lookback every simulated sync has (the default).
const LOOKBACK: Micros = 600 * S;
const STEPS: u64 = 60;
/// Once the faults stop, a run completes within this many invocations.
const LIVENESS_INVOCATIONS: usize = 500;

/// What the lifetimes went through, summed.
#[derive(Default, Debug)]
pub struct Coverage {
    pub lifetimes: u64,
    pub syncs: u64,
    pub invocations: u64,
    pub runs_checked: u64,
    pub full_reads_checked: u64,
    pub faults: u64,
    pub duplicate_alarms: u64,
    pub deploys: u64,
    pub evictions: u64,
    pub webhooks: u64,
    pub crons: u64,
    pub late_rows: u64,
    pub pushes: u64,
}

impl Coverage {
    fn add(&mut self, other: &Coverage) {
        self.lifetimes += other.lifetimes;
        self.syncs += other.syncs;
        self.invocations += other.invocations;
        self.runs_checked += other.runs_checked;
        self.full_reads_checked += other.full_reads_checked;
        self.faults += other.faults;
        self.duplicate_alarms += other.duplicate_alarms;
        self.deploys += other.deploys;
        self.evictions += other.evictions;
        self.webhooks += other.webhooks;
        self.crons += other.crons;
        self.late_rows += other.late_rows;
        self.pushes += other.pushes;
    }
}

/// One lifetime: the schedule under faults, then liveness and a last exact
/// check once the faults stop.
fn lifetime(seed: u64, cov: &mut Coverage) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut syncs = deployment(&mut rng, seed);
    let mut now = syncs[0].world.now();
    cov.syncs += syncs.len() as u64;
    for _ in 0..STEPS {
        step(&mut syncs, &mut rng, &mut now, cov)?;
    }
    for sync in &mut syncs {
        cov.faults +=
            sync.world.warehouse().faults.injected + sync.world.storage.faults.borrow().injected;
        sync.world.warehouse().faults.p = 0.0;
        sync.world.storage.faults.borrow_mut().p = 0.0;
    }
    cov.faults += syncs[0].world.kv().faults.injected;
    syncs[0].world.kv().faults.p = 0.0;
    for sync in &mut syncs {
        sync.world.runtime().clock.set(now.max(sync.world.now()));
        if !sync.idle() {
            sync.world.run_to_completion(LIVENESS_INVOCATIONS);
        }
        check_step(sync, cov)?;
        sync.world.start_run_with(RunMode {
            full: true,
            allow_mass_delete: true,
            ..RunMode::default()
        });
        sync.world.run_to_completion(LIVENESS_INVOCATIONS);
        check_step(sync, cov)?;
        now = now.max(sync.world.now());
    }
    cov.lifetimes += 1;
    Ok(())
}

/// One lifetime, with a panic (an `expect` of the harness, a bound of
/// `run_to_completion`) reported as a violation.
fn checked_lifetime(seed: u64, cov: &mut Coverage) -> Result<(), String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| lifetime(seed, cov)));
    let failure = match outcome {
        Ok(result) => return result,
        Err(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into()),
    };
    Err(failure)
}

/// Runs `count` lifetimes from seed `first`, on every core; panics with the
/// replay command of a seed that fails.
fn run_lifetimes(first: u64, count: u64) -> Coverage {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let failed = AtomicBool::new(false);
    let results: Vec<Result<Coverage, (u64, String)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let failed = &failed;
                scope.spawn(move || {
                    let mut cov = Coverage::default();
                    for seed in (first + t..first + count).step_by(threads as usize) {
                        if failed.load(Ordering::Relaxed) {
                            break;
                        }
                        checked_lifetime(seed, &mut cov).map_err(|e| {
                            failed.store(true, Ordering::Relaxed);
                            (seed, e)
                        })?;
                    }
                    Ok(cov)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker returns"))
            .collect()
    });
    let mut total = Coverage::default();
    for result in results {
        match result {
            Ok(cov) => total.add(&cov),
            Err((seed, failure)) => panic!(
                "seed {seed}: {failure}\nreplay: SIM_SEED={seed} SIM_TRACE=1 cargo test --release -p kv-sync-core --test simulation replay -- --nocapture"
            ),
        }
    }
    total
}

#[test]
fn lifetimes_of_whole_deployments_keep_the_mirror_under_faults() {
    let count = std::env::var("SIM_LIFETIMES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(LIFETIMES_IN_TEST);
    let first = std::env::var("SIM_FIRST_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let started = Instant::now();
    let cov = run_lifetimes(first, count);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "simulation: {} lifetimes in {seconds:.1} s ({:.0} a second); covered {cov:?}",
        cov.lifetimes,
        cov.lifetimes as f64 / seconds
    );
    assert_eq!(cov.lifetimes, count);
    assert!(cov.faults > count, "faults were injected ({})", cov.faults);
    assert!(
        cov.full_reads_checked > 0 && cov.runs_checked > count,
        "{cov:?}"
    );
}

/// Replays one seed: `SIM_SEED=N … replay`.
#[test]
fn replay() {
    if let Some(seed) = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        let cov = run_lifetimes(seed, 1);
        eprintln!("seed {seed} holds: {cov:?}");
    }
}
