//! The sync engine against in-memory fakes: cursor ties, late rows, change
//! detection, deletes, quarantine, budgets, expired results and fencing.

mod support;

use kv_sync_core::engine::cursor::Cursor;
use kv_sync_core::engine::error::{RunError, StoreError, WarehouseError};
use kv_sync_core::engine::limits::RunLimits;
use kv_sync_core::engine::run::{Engine, Outcome, Ports, RunSpec};
use kv_sync_core::engine::time::{Micros, MICROS_PER_SECOND};
use kv_sync_core::settings::SyncConfig;
use serde_json::json;
use support::block_on;
use support::fakes::warehouse::Lead;
use support::world::World;
use support::world::QUERY;

const SECOND: Micros = MICROS_PER_SECOND;

fn limits() -> RunLimits {
    RunLimits::from_config(&SyncConfig::default())
}

fn small_limits(page_rows: u32, batch_rows: usize, max_kv_requests: u32) -> RunLimits {
    RunLimits {
        page_rows,
        batch_rows,
        max_kv_requests,
        ..limits()
    }
}

fn key(i: usize) -> String {
    format!("lead-{i:06}")
}

fn assert_kv_matches_source(world: &World) {
    for (k, row) in &world.warehouse().rows {
        match (row.deleted, world.kv().value(k)) {
            (true, None) => {}
            (false, Some(v)) => assert_eq!(v, row.expected_value(), "value of {k}"),
            (deleted, v) => panic!("{k}: deleted={deleted} but KV holds {v:?}"),
        }
    }
    let live = world
        .warehouse()
        .rows
        .values()
        .filter(|r| !r.deleted)
        .count();
    assert_eq!(
        world.kv().data.len(),
        live,
        "KV holds exactly the live source rows"
    );
}

#[test]
fn ten_thousand_rows_sharing_one_updated_at_sync_completely() {
    // Given 10,000 rows with one updated_at, read 97 rows a page, at most 50
    // KV writes an invocation.
    let mut world = World::new(small_limits(97, 13, 50));
    let t = 1_767_225_600_123_456;
    for i in 0..10_000 {
        world
            .warehouse()
            .upsert(Lead::new(&key(i), t, "Ada", i as i64));
    }
    // When the run goes to completion across invocations,
    let invocations = world.sync(false);
    // then every row is in KV, the cursor sits on the last key of the tie,
    // and it took one job and many invocations.
    assert_kv_matches_source(&world);
    assert_eq!(world.cursor(), Some(Cursor::new(t, key(9_999))));
    assert_eq!(world.warehouse().jobs_started, 1);
    assert_eq!(invocations, 200);
    assert_eq!(world.kv().writes(), 10_000, "no row was written twice");
    assert!(world.kv().largest_batch <= 50);
}

#[test]
fn a_re_run_with_nothing_changed_makes_no_kv_writes() {
    let mut world = World::new(small_limits(10, 7, 1_000));
    for i in 0..100 {
        world
            .warehouse()
            .upsert(Lead::new(&key(i), SECOND * (i as i64), "x", 1));
    }
    world.sync(false);
    let writes = world.kv().writes();
    world.sync(false);
    world.sync(true);
    assert_eq!(
        world.kv().writes(),
        writes,
        "unchanged values are not rewritten"
    );
    assert!(world.state().active_run.is_none());
}

#[test]
fn rows_that_land_late_inside_the_lookback_are_caught() {
    let mut world = World::new(limits());
    let now = world.now();
    world.warehouse().upsert(Lead::new("a", now, "first", 1));
    world.sync(false);
    // A row stamped 5 minutes before the cursor appears only now (a slow
    // pipeline upstream); the lookback is 10 minutes.
    world
        .warehouse()
        .upsert(Lead::new("late", now - 300 * SECOND, "late", 2));
    world.sync(false);
    assert_eq!(
        world.kv().value("late"),
        Some(json!({"name": "late", "visits": 2}))
    );
    assert_eq!(
        world.cursor(),
        Some(Cursor::new(now, "a")),
        "the cursor did not move back"
    );
    let since = world.warehouse().queries.last().unwrap().params[0]
        .value
        .clone();
    assert_eq!(
        since,
        kv_sync_core::engine::time::to_rfc3339(now - 600 * SECOND)
    );
}

#[test]
fn changed_rows_are_rewritten_and_deleted_rows_removed() {
    let mut world = World::new(limits());
    for i in 0..10 {
        world
            .warehouse()
            .upsert(Lead::new(&key(i), SECOND, "v1", 1));
    }
    world.sync(false);
    world
        .warehouse()
        .upsert(Lead::new(&key(3), 2 * SECOND, "v2", 2));
    let mut gone = Lead::new(&key(4), 2 * SECOND, "v1", 1);
    gone.deleted = true;
    world.warehouse().upsert(gone);
    let before = world.kv().writes();
    world.sync(false);
    assert_kv_matches_source(&world);
    assert_eq!(world.kv().writes() - before, 2, "one put and one delete");
    // The delete is remembered: the next run does not delete again.
    world.sync(false);
    assert_eq!(world.kv().writes() - before, 2);
}

#[test]
fn bad_rows_are_quarantined_and_do_not_block_the_cursor() {
    let mut world = World::new(small_limits(3, 2, 1_000));
    world.warehouse().upsert(Lead::new("ok-1", SECOND, "a", 1));
    for visits in [1, 2] {
        world.warehouse().upsert(Lead {
            key: None,
            ..Lead::new("x", 2 * SECOND, "a", visits)
        });
    }
    world
        .warehouse()
        .upsert(Lead::new(&"k".repeat(600), 3 * SECOND, "a", 1));
    world
        .warehouse()
        .upsert(Lead::new("ok-2", 4 * SECOND, "a", 1));
    world.sync(false);
    assert_eq!(
        world.kv().value("ok-2"),
        Some(json!({"name": "a", "visits": 1}))
    );
    assert_eq!(world.cursor(), Some(Cursor::new(4 * SECOND, "ok-2")));
    // Each bad row is one failed row, the two without a key included, and
    // reading them again does not count them twice.
    world.sync(false);
    let failed = &world.failed_rows();
    assert_eq!(failed.len(), 3, "{failed:?}");
    let keyless: Vec<_> = failed
        .iter()
        .filter(|(id, _)| id.starts_with("(no key) "))
        .collect();
    assert_eq!(keyless.len(), 2, "{failed:?}");
    assert!(keyless
        .iter()
        .all(|(_, reason)| reason.contains("key is null")));
    assert!(failed.values().any(|r| r.contains("600 bytes")));
}

#[test]
fn values_are_refreshed_before_their_ttl_expires() {
    let mut world = World::new(RunLimits {
        refresh_after: Some(3_600 * SECOND),
        ..limits()
    });
    world.warehouse().upsert(Lead::new("a", SECOND, "x", 1));
    world.sync(false);
    world.sync(true);
    assert_eq!(world.kv().writes(), 1, "fresh values are not rewritten");
    world.advance(3_601 * SECOND);
    world.sync(true);
    assert_eq!(world.kv().writes(), 2, "an old value is refreshed");
}

#[test]
fn budgets_pause_and_the_next_invocation_continues() {
    let mut world = World::new(small_limits(1_000, 100, 250));
    for i in 0..1_000 {
        world.warehouse().upsert(Lead::new(&key(i), SECOND, "x", 1));
    }
    world.start_run(false);
    let report = world.invoke();
    assert!(report.paused("WriteBudget"), "{report:?}");
    assert_eq!(report.run.counters.rows_written, 250);
    assert_eq!(report.run.total_rows, Some(1_000));
    assert_eq!(world.kv().writes(), 250);
    // Time: a clock that moves 1 s per reading runs out of a 25 s budget.
    world.tick(SECOND);
    world.limits().max_kv_requests = 1_000_000;
    world.limits().batch_rows = 10;
    let report = world.invoke();
    assert!(report.paused("TimeBudget"), "{report:?}");
    world.tick(0);
    world.run_to_completion(10);
    assert_kv_matches_source(&world);
    assert_eq!(world.warehouse().jobs_started, 1);
}

#[test]
fn expired_results_are_re_queried_from_the_last_position() {
    let mut world = World::new(small_limits(50, 10, 100));
    for i in 0..500 {
        world
            .warehouse()
            .upsert(Lead::new(&key(i), SECOND * (i as i64 % 7), "x", 1));
    }
    world.start_run(false);
    let first = world.invoke();
    assert!(first.paused("WriteBudget"), "{first:?}");
    world.warehouse().expire_jobs();
    world.run_to_completion(100);
    assert_kv_matches_source(&world);
    assert_eq!(world.warehouse().jobs_started, 2);
    let requery = &world.warehouse().queries[1];
    assert!(requery.sql.contains("@after_key"));
    assert_eq!(world.kv().writes(), 500, "nothing was written twice");
}

#[test]
fn a_query_that_never_completes_fails_clearly_and_the_next_run_starts_a_new_job() {
    let mut world = World::new(RunLimits {
        query_deadline: 60 * SECOND,
        ..limits()
    });
    world.warehouse().upsert(Lead::new("a", SECOND, "x", 1));
    world.warehouse().polls_before_complete = u32::MAX;
    world.tick(SECOND);
    world.start_run(false);
    let mut report = world.invoke();
    assert!(report.paused("TimeBudget"), "{report:?}");
    for _ in 0..10 {
        if !report.paused("TimeBudget") {
            break;
        }
        report = world.invoke();
    }
    assert_eq!(report.event, "run_failed", "{report:?}");
    assert_eq!(report.run.error_class.as_deref(), Some("timeout"));
    let error = report.run.error.unwrap();
    assert!(error.contains("was still running"), "{error}");
    assert_eq!(
        world.warehouse().cancelled.len(),
        1,
        "the stuck job is cancelled, not left to run"
    );
    world.warehouse().polls_before_complete = 0;
    world.tick(0);
    // The retry starts a new job: the stuck one is dropped.
    world.invoke();
    assert_eq!(world.warehouse().jobs_started, 2);
    assert_eq!(
        world.kv().value("a"),
        Some(json!({"name": "x", "visits": 1}))
    );
}

#[test]
fn a_stale_lease_holder_cannot_checkpoint() {
    let mut world = World::new(small_limits(10, 5, 1_000));
    for i in 0..20 {
        world.warehouse().upsert(Lead::new(&key(i), SECOND, "x", 1));
    }
    world.start_run(false);
    let progress = world
        .store()
        .progress(world.state().active_run.unwrap())
        .unwrap();
    let now = world.now();
    let stale = world
        .store()
        .acquire_lease(progress.run_id, now, SECOND)
        .unwrap()
        .unwrap();
    // The holder stalls; its lease lapses and another invocation takes over.
    world
        .store()
        .acquire_lease(progress.run_id, now + 2 * SECOND, SECOND)
        .unwrap()
        .expect("a lapsed lease is taken over");
    let limits = world.limits().clone();
    let report = {
        let mut warehouse = world.warehouse();
        let mut kv = world.kv();
        let mut store = world.store();
        let ports = Ports {
            warehouse: &mut *warehouse,
            sink: &mut *kv,
            store: &mut store,
            clock: world.runtime(),
        };
        let spec = RunSpec {
            query: QUERY,
            key_prefix: "",
            retired_prefixes: &[],
            shares_keys: false,
            limits: &limits,
        };
        let engine = Engine::new(ports, spec, stale.fence);
        block_on(engine.run_invocation(progress))
    };
    assert_eq!(
        report.outcome,
        Outcome::Failed(RunError::Store(StoreError::LeaseLost { fence: 1 }))
    );
    assert_eq!(world.cursor(), None, "the stale holder moved nothing");
    assert_eq!(world.kv().writes(), 0);
}

#[test]
fn an_invalid_query_is_a_run_error_that_keeps_the_cursor() {
    let mut world = World::new(limits());
    world.warehouse().upsert(Lead::new("a", SECOND, "x", 1));
    world.sync(false);
    let cursor = world.cursor();
    let rejection = WarehouseError::InvalidQuery("Unrecognized name: updated_at at [3:7]".into());
    world.warehouse().reject_queries = Some(rejection.clone());
    world.start_run(false);
    let report = world.invoke();
    assert_eq!(report.event, "run_failed");
    assert_eq!(
        report.run.error,
        Some(RunError::Warehouse(rejection).to_string())
    );
    assert_eq!(report.run.error_class.as_deref(), Some("invalidQuery"));
    assert_eq!(world.cursor(), cursor);
    assert_eq!(report.run.bigquery_jobs, 0);
}

#[test]
fn each_page_is_read_once_while_kv_writes_the_page_before() {
    // Given 5,000 rows and 100 KV writes an invocation (pages of 100 rows),
    let mut world = World::new(small_limits(10_000, 50, 100));
    for i in 0..5_000 {
        world.warehouse().upsert(Lead::new(&key(i), SECOND, "x", 1));
    }
    // when the import runs,
    assert_eq!(world.sync(false), 50);
    assert_kv_matches_source(&world);
    // then BigQuery answered one call per page: each page after the first
    // was read during the last batch of the one before and handed to the
    // next invocation; none was read twice, or only to find the budget spent.
    let w = world.warehouse();
    assert_eq!(
        (w.jobs_started, w.pages_read, w.rows_served),
        (1, 49, 5_000)
    );
}

#[test]
fn a_page_read_ahead_and_then_lost_is_read_again() {
    // Given an import whose coordinator forgets every page read ahead (it
    // was evicted between invocations),
    let mut world = World::new(small_limits(10_000, 50, 100));
    for i in 0..2_000 {
        world.warehouse().upsert(Lead::new(&key(i), SECOND, "x", 1));
    }
    world.start_run(false);
    loop {
        world.deploy(&[]);
        if world.invoke().event == "run_completed" {
            break;
        }
    }
    // then every page is read again where it is needed, and KV is complete.
    assert_kv_matches_source(&world);
    assert_eq!(world.warehouse().pages_read, 2 * 19);
}

#[test]
fn a_small_write_budget_does_not_fetch_pages_it_cannot_write() {
    // Given full 10,000-row pages but 100 KV writes an invocation,
    let mut world = World::new(small_limits(10_000, 50, 100));
    for i in 0..5_000 {
        world.warehouse().upsert(Lead::new(&key(i), SECOND, "x", 1));
    }
    // when the import runs (50 invocations),
    let invocations = world.sync(false);
    assert_eq!(invocations, 50);
    assert_kv_matches_source(&world);
    // then each invocation fetched about what it could write, not 10,000 rows.
    assert!(
        world.warehouse().rows_served < 2 * 5_000,
        "{} rows fetched",
        world.warehouse().rows_served
    );
    // And a re-read of unchanged rows goes back to full pages.
    let pages = world.warehouse().pages_read;
    world.sync(true);
    assert!(
        world.warehouse().pages_read - pages <= 2,
        "full pages for unchanged rows"
    );
}
