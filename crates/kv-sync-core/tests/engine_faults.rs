//! Crash-safety of the engine, given/when/then:
//! given a source and a run, when a fault strikes at any step (after the
//! query, mid-batch, after a KV write whose answer was lost, at the end of a
//! checkpoint's transaction), then recovery from the stored checkpoint ends
//! with KV exactly equal to the source, and at most the unacknowledged
//! writes are repeated (counted: a put of what KV already held, at most a
//! batch per fault). The source turns hostile along the way: rows leave
//! it, keys appear twice, rows are stamped in the future or not at all,
//! keys KV refuses, and KV is changed behind kv-sync's back; a full run
//! that rewrites brings KV back to the source.

mod support;

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use kv_sync_core::engine::limits::RunLimits;
use kv_sync_core::engine::progress::RunMode;
use kv_sync_core::engine::time::{Micros, MICROS_PER_SECOND};
use kv_sync_core::settings::SyncConfig;
use support::fakes::warehouse::Lead;
use support::fakes::Faults;
use support::rng::Rng;
use support::world::World;

const SECOND: Micros = MICROS_PER_SECOND;

/// KV holds exactly the live rows of the source: of each key the row that
/// wins, unless it deletes, has no `updated_at`, or has a key KV refuses.
fn assert_kv_equals_source(world: &World, context: &str) {
    let mut live = 0;
    for (k, row) in world.warehouse().winners() {
        let held = world.kv().value(&k);
        let writable =
            !row.deleted && row.updated_at.is_some() && !matches!(k.as_str(), "." | "..");
        if writable {
            live += 1;
            assert_eq!(held, Some(row.expected_value()), "{context}: value of {k}");
        } else {
            assert_eq!(held, None, "{context}: {k} should not be in KV");
        }
    }
    assert_eq!(
        world.kv().data.len(),
        live,
        "{context}: KV holds exactly the live rows"
    );
}

/// An incremental run, checked as soon as it completes: every row of the
/// window it read (`updated_at` at or after the cursor before it, less the
/// lookback) is in KV as the source has it. What only a full run repairs
/// (hard deletes, KV changed behind kv-sync's back) is left to the end.
fn incremental_run(world: &mut World, context: &str, changed_behind: &HashSet<String>) {
    let lookback = 600 * SECOND;
    let since = world
        .cursor()
        .map_or(Micros::MIN, |c| c.updated_at - lookback);
    world.sync(false);
    for (k, row) in world.warehouse().winners() {
        let Some(at) = row.updated_at.filter(|at| *at >= since) else {
            continue;
        };
        if matches!(k.as_str(), "." | "..") || changed_behind.contains(&k) {
            continue;
        }
        let held = world.kv().value(&k);
        let expected = (!row.deleted).then(|| row.expected_value());
        assert_eq!(held, expected, "{context}: {k} (updated at {at}) in KV");
    }
}

/// A source of `n` rows over a few timestamps (many ties), some deleted.
fn seed_source(world: &mut World, rng: &mut Rng, n: usize, base: Micros) {
    for i in 0..n {
        let mut row = Lead::new(
            &format!("k{:04}", rng.range(0, n as u64 * 2)),
            base + SECOND * rng.range(0, 5) as i64,
            ["Ada", "Grace", "Linus"][i % 3],
            rng.range(0, 1_000) as i64,
        );
        row.deleted = rng.chance(0.1);
        world.warehouse().upsert(row);
    }
}

/// Inserts, updates (newer updated_at), deletes and late rows inside the
/// lookback, after a first sync.
fn mutate_source(world: &mut World, rng: &mut Rng, n: usize) {
    let now = world.now();
    let keys: Vec<String> = world.warehouse().rows.keys().cloned().collect();
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
        let mut row = Lead::new(&key, updated_at, "Edsger", rng.range(0, 1_000) as i64);
        row.deleted = rng.chance(0.15);
        world.warehouse().upsert(row);
    }
}

fn limits(page_rows: u32, batch_rows: usize, max_kv_requests: u32) -> RunLimits {
    RunLimits {
        page_rows,
        batch_rows,
        max_kv_requests,
        ..RunLimits::from_config(&SyncConfig::default())
    }
}

fn scenario_limits(rng: &mut Rng) -> RunLimits {
    limits(
        rng.range(1, 40) as u32,
        rng.range(1, 15) as usize,
        rng.range(1, 30) as u32,
    )
}

/// Rows leave the source, keys appear twice, rows are stamped in the
/// future or not at all, keys KV refuses arrive, and KV is changed behind
/// kv-sync's back. Returns the keys changed in KV behind its back.
fn turn_hostile(world: &mut World, rng: &mut Rng, n: usize) -> HashSet<String> {
    let mut changed_behind = HashSet::new();
    let now = world.now();
    let keys: Vec<String> = world.warehouse().rows.keys().cloned().collect();
    for _ in 0..n {
        let Some(key) =
            (!keys.is_empty()).then(|| keys[rng.range(0, keys.len() as u64 - 1) as usize].clone())
        else {
            break;
        };
        match rng.range(0, 5) {
            0 => world.warehouse().remove(&key),
            1 => world.warehouse().duplicates.push(Lead::new(
                &key,
                now + SECOND * rng.range(0, 2) as i64,
                ["Ada", "Zed"][rng.range(0, 1) as usize],
                rng.range(0, 9) as i64,
            )),
            2 => {
                if let Some(held) = world.kv().data.get_mut(&key) {
                    held.0 = "{\"tampered\":true}".into();
                    changed_behind.insert(key);
                }
            }
            3 if world.kv().data.remove(&key).is_some() => {
                changed_behind.insert(key);
            }
            _ => {}
        }
    }
    let year_2099 = 4_070_908_800 * SECOND;
    world.warehouse().upsert(Lead::new(
        &format!("f{}", rng.range(0, 99)),
        year_2099,
        "Future",
        1,
    ));
    world.warehouse().upsert(Lead {
        updated_at: None,
        ..Lead::new(&format!("u{}", rng.range(0, 99)), 0, "Undated", 1)
    });
    world.warehouse().upsert(Lead::new(
        [".", ".."][rng.range(0, 1) as usize],
        now,
        "Refused",
        1,
    ));
    changed_behind
}

/// The sync's life under the given faults: an import, then changes, then
/// a hostile turn with an incremental run, then a full run that rewrites
/// and deletes what left the source. Returns the puts repeated before that
/// full run (which rewrites everything on purpose).
fn lifetime(world: &mut World, rng: &mut Rng, rows: usize) -> u64 {
    let base = world.now() - 100 * SECOND;
    seed_source(world, rng, rows, base);
    world.sync(false);
    assert_kv_equals_source(world, "after the first (full) run");
    world.advance(60 * SECOND);
    mutate_source(world, rng, rows / 2 + 1);
    incremental_run(world, "after the changes", &HashSet::new());
    world.advance(60 * SECOND);
    let changed_behind = turn_hostile(world, rng, rows / 4 + 1);
    incremental_run(world, "after the hostile turn", &changed_behind);
    let repeated = world.kv().repeated_puts;
    world.sync_with(RunMode {
        full: true,
        rewrite: true,
        allow_mass_delete: true,
    });
    repeated
}

/// Faults that strike exactly at step `at` of a counter shared by the
/// warehouse, KV and the store.
fn crash_at(world: &mut World, at: u64) -> Rc<Cell<u64>> {
    let steps = Rc::new(Cell::new(0));
    world.warehouse().faults = Faults::at_step(steps.clone(), at, 1);
    world.kv().faults = Faults::at_step(steps.clone(), at, at.wrapping_add(2));
    *world.storage.faults.borrow_mut() = Faults::at_step(steps.clone(), at, 3);
    steps
}

#[test]
fn a_crash_at_every_step_of_a_run_loses_nothing() {
    // Given a scenario, count the fault points a clean pass goes through.
    let clean = {
        let mut world = World::new(scenario_limits(&mut Rng::new(7)));
        let steps = crash_at(&mut world, u64::MAX);
        lifetime(&mut world, &mut Rng::new(99), 60);
        assert_kv_equals_source(&world, "clean");
        steps.get()
    };
    assert!(
        clean > 50,
        "the scenario passes many fault points ({clean})"
    );
    // When the run crashes at step k, for every k, then recovery is exact.
    // And the one crash repeats at most the batch whose acknowledgement it
    // lost (written, not yet checkpointed).
    let batch_rows = scenario_limits(&mut Rng::new(7)).batch_rows as u64;
    let mut repeated_somewhere = false;
    for k in 0..clean {
        let mut world = World::new(scenario_limits(&mut Rng::new(7)));
        crash_at(&mut world, k);
        let repeated = lifetime(&mut world, &mut Rng::new(99), 60);
        assert_kv_equals_source(&world, &format!("crash at step {k}"));
        assert!(
            repeated <= batch_rows,
            "crash at step {k}: {repeated} puts repeated, more than a batch ({batch_rows})"
        );
        repeated_somewhere |= repeated > 0;
    }
    assert!(
        repeated_somewhere,
        "some crash lost an acknowledgement (else the count is not looking)"
    );
}

/// One random scenario: the limits, the fault rate, and the seeds of the
/// source's contents and of the faults. proptest shrinks a failing one
/// toward the smallest source and the simplest limits.
#[derive(Clone, Debug)]
struct Scenario {
    page_rows: u32,
    batch_rows: usize,
    max_kv_requests: u32,
    fault_rate: f64,
    rows: usize,
    source_seed: u64,
    fault_seed: u64,
}

fn scenarios() -> impl Strategy<Value = Scenario> {
    (
        1..=40u32,
        1..=15usize,
        1..=30u32,
        prop::sample::select(vec![0.0, 0.05, 0.2]),
        0..=120usize,
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(
                page_rows,
                batch_rows,
                max_kv_requests,
                fault_rate,
                rows,
                source_seed,
                fault_seed,
            )| Scenario {
                page_rows,
                batch_rows,
                max_kv_requests,
                fault_rate,
                rows,
                source_seed,
                fault_seed,
            },
        )
}

#[test]
fn a_thousand_random_scenarios_with_faults_end_with_kv_equal_to_the_source() {
    let faults_seen = Cell::new(0);
    let config = Config {
        cases: 1_000,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new(config)
        .run(&scenarios(), |s| {
            let mut world = World::new(limits(s.page_rows, s.batch_rows, s.max_kv_requests));
            let seed = s.fault_seed;
            world.warehouse().faults =
                Faults::new(seed.wrapping_mul(3).wrapping_add(1), s.fault_rate);
            world.kv().faults = Faults::new(seed.wrapping_mul(3).wrapping_add(2), s.fault_rate);
            *world.storage.faults.borrow_mut() =
                Faults::new(seed.wrapping_mul(3).wrapping_add(3), s.fault_rate);
            let repeated = lifetime(&mut world, &mut Rng::new(s.source_seed), s.rows);
            assert_kv_equals_source(&world, &format!("{s:?}"));
            // Each fault ends an invocation before at most one batch's
            // checkpoint: only those writes may be repeated.
            let injected = world.warehouse().faults.injected
                + world.kv().faults.injected
                + world.storage.faults.borrow().injected;
            prop_assert!(
                repeated <= injected * s.batch_rows as u64,
                "{} puts repeated after {} faults of batches of {}",
                repeated,
                injected,
                s.batch_rows
            );
            // And with nothing changed, a further run writes nothing.
            world.warehouse().faults.p = 0.0;
            world.kv().faults.p = 0.0;
            world.storage.faults.borrow_mut().p = 0.0;
            let writes = world.kv().writes();
            world.sync(false);
            prop_assert_eq!(world.kv().writes(), writes, "an idle re-run wrote");
            faults_seen.set(
                faults_seen.get()
                    + world.warehouse().faults.injected
                    + world.kv().faults.injected
                    + world.storage.faults.borrow().injected,
            );
            Ok(())
        })
        .unwrap();
    assert!(
        faults_seen.get() > 1_000,
        "faults were really injected ({})",
        faults_seen.get()
    );
}

#[test]
fn without_faults_each_row_is_written_once() {
    for seed in 0..200u64 {
        let mut rng = Rng::new(seed);
        let mut world = World::new(scenario_limits(&mut rng));
        seed_source(&mut world, &mut rng, 80, SECOND);
        world.sync(false);
        let live = world
            .warehouse()
            .rows
            .values()
            .filter(|r| !r.deleted)
            .count() as u64;
        assert_eq!(world.kv().puts, live, "seed {seed}");
        assert_eq!(world.kv().repeated_puts, 0, "seed {seed}");
    }
}
