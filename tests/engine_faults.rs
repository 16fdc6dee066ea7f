//! Crash-safety of the engine, given/when/then:
//! given a source and a run, when a fault strikes at any step (after the
//! query, mid-batch, after a KV write whose answer was lost, during the
//! checkpoint), then recovery from the stored checkpoint ends with KV exactly
//! equal to the source, and at most the unacknowledged writes are repeated.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use kv_sync::engine::config::SyncConfig;
use kv_sync::engine::limits::RunLimits;
use kv_sync::engine::time::{Micros, MICROS_PER_SECOND};
use support::fakes::{Faults, SourceRow};
use support::rng::Rng;
use support::{block_on, World};

const SECOND: Micros = MICROS_PER_SECOND;

fn assert_kv_equals_source(world: &World, context: &str) {
    for (k, row) in &world.warehouse.rows {
        let held = world.kv.value(k);
        if row.deleted {
            assert_eq!(held, None, "{context}: {k} should be deleted");
        } else {
            assert_eq!(held, Some(row.expected_value()), "{context}: value of {k}");
        }
    }
    let live = world.warehouse.rows.values().filter(|r| !r.deleted).count();
    assert_eq!(
        world.kv.data.len(),
        live,
        "{context}: KV holds exactly the live rows"
    );
}

/// A source of `n` rows over a few timestamps (many ties), some deleted.
fn seed_source(world: &mut World, rng: &mut Rng, n: usize, base: Micros) {
    for i in 0..n {
        let mut row = SourceRow::new(
            &format!("k{:04}", rng.range(0, n as u64 * 2)),
            base + SECOND * rng.range(0, 5) as i64,
            ["Ada", "Grace", "Linus"][i % 3],
            rng.range(0, 1_000) as i64,
        );
        row.deleted = rng.chance(0.1);
        world.warehouse.upsert(row);
    }
}

/// Inserts, updates (newer updated_at), deletes and late rows inside the
/// lookback, after a first sync.
fn mutate_source(world: &mut World, rng: &mut Rng, n: usize) {
    let now = world.clock.now_micros();
    let keys: Vec<String> = world.warehouse.rows.keys().cloned().collect();
    for _ in 0..n {
        let roll = rng.range(0, 9);
        let updated_at = if roll == 0 {
            now - SECOND * rng.range(1, 500) as i64 // late, inside the 600 s lookback
        } else {
            now + SECOND * rng.range(0, 3) as i64 // ties again
        };
        let key = if roll < 5 && !keys.is_empty() {
            keys[rng.range(0, keys.len() as u64 - 1) as usize].clone()
        } else {
            format!("n{:04}", rng.range(0, 9_999))
        };
        let mut row = SourceRow::new(&key, updated_at, "Edsger", rng.range(0, 1_000) as i64);
        row.deleted = rng.chance(0.15);
        world.warehouse.upsert(row);
    }
}

fn scenario_limits(rng: &mut Rng) -> RunLimits {
    let base = RunLimits::from_config(&SyncConfig::from_vars(|_| None).unwrap());
    RunLimits {
        page_rows: rng.range(1, 40) as u32,
        batch_rows: rng.range(1, 15) as usize,
        max_kv_writes: rng.range(1, 30) as u32,
        ..base
    }
}

/// Two syncs (initial import, then changes) under the given faults.
fn two_syncs(world: &mut World, rng: &mut Rng, rows: usize) {
    seed_source(world, rng, rows, world.clock.now_micros() - 100 * SECOND);
    block_on(world.sync(false));
    world.clock.advance(60 * SECOND);
    mutate_source(world, rng, rows / 2 + 1);
    block_on(world.sync(false));
}

#[test]
fn a_crash_at_every_step_of_a_run_loses_nothing() {
    // Given a scenario, count the fault points a clean pass goes through.
    let clean = {
        let mut world = World::new(scenario_limits(&mut Rng::new(7)));
        let steps = Rc::new(Cell::new(0));
        world.warehouse.faults = Faults::at_step(steps.clone(), u64::MAX, 1);
        world.kv.faults = Faults::at_step(steps.clone(), u64::MAX, 2);
        world.store.faults = Faults::at_step(steps.clone(), u64::MAX, 3);
        two_syncs(&mut world, &mut Rng::new(99), 60);
        assert_kv_equals_source(&world, "clean");
        steps.get()
    };
    assert!(
        clean > 50,
        "the scenario passes many fault points ({clean})"
    );
    // When the run crashes at step k, for every k, then recovery is exact.
    for k in 0..clean {
        let mut world = World::new(scenario_limits(&mut Rng::new(7)));
        let steps = Rc::new(Cell::new(0));
        world.warehouse.faults = Faults::at_step(steps.clone(), k, 1);
        world.kv.faults = Faults::at_step(steps.clone(), k, 2 + k);
        world.store.faults = Faults::at_step(steps.clone(), k, 3);
        two_syncs(&mut world, &mut Rng::new(99), 60);
        assert_kv_equals_source(&world, &format!("crash at step {k}"));
    }
}

#[test]
fn a_thousand_random_scenarios_with_faults_end_with_kv_equal_to_the_source() {
    let mut faults_seen = 0;
    for seed in 0..1_000u64 {
        let mut rng = Rng::new(seed);
        let mut world = World::new(scenario_limits(&mut rng));
        let p = [0.0, 0.05, 0.2][seed as usize % 3];
        world.warehouse.faults = Faults::new(seed * 3 + 1, p);
        world.kv.faults = Faults::new(seed * 3 + 2, p);
        world.store.faults = Faults::new(seed * 3 + 3, p);
        let rows = rng.range(0, 120) as usize;
        two_syncs(&mut world, &mut rng, rows);
        assert_kv_equals_source(&world, &format!("seed {seed}"));
        // And with nothing changed, a further run writes nothing.
        world.warehouse.faults.p = 0.0;
        world.kv.faults.p = 0.0;
        world.store.faults.p = 0.0;
        let writes = world.kv.writes();
        block_on(world.sync(false));
        assert_eq!(
            world.kv.writes(),
            writes,
            "seed {seed}: an idle re-run wrote"
        );
        faults_seen += world.warehouse.faults.injected
            + world.kv.faults.injected
            + world.store.faults.injected;
    }
    assert!(
        faults_seen > 1_000,
        "faults were really injected ({faults_seen})"
    );
}

#[test]
fn without_faults_each_row_is_written_once() {
    for seed in 0..200u64 {
        let mut rng = Rng::new(seed);
        let mut world = World::new(scenario_limits(&mut rng));
        seed_source(&mut world, &mut rng, 80, SECOND);
        block_on(world.sync(false));
        let live = world.warehouse.rows.values().filter(|r| !r.deleted).count() as u64;
        assert_eq!(world.kv.puts, live, "seed {seed}");
    }
}
