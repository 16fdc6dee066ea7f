//! How a run writes to KV when both the binding and the bulk API are
//! configured, and how pages are sized by bytes as well as rows.

mod support;

use kv_sync_core::engine::kv_path::KvPath;
use kv_sync_core::engine::limits::RunLimits;
use kv_sync_core::engine::time::{Micros, MICROS_PER_SECOND};
use kv_sync_core::settings::SyncConfig;
use support::fakes::warehouse::Lead;
use support::world::World;

const SECOND: Micros = MICROS_PER_SECOND;
const T0: Micros = 1_767_225_600 * SECOND;
/// Long before the tests' clock starts: rows of an import were written
/// over the days before it, not in the lookback window of the next run.
const EARLIER: Micros = T0 - 200_000 * SECOND;

fn key(i: usize) -> String {
    format!("lead-{i:06}")
}

fn world_with_bulk(leads: usize) -> World {
    let world = World::new(RunLimits::from_config(&SyncConfig::default()));
    world.kv().offers_bulk = true;
    for i in 0..leads {
        world.warehouse().upsert(Lead::new(
            &key(i),
            EARLIER + i as Micros * SECOND,
            "Ada",
            i as i64,
        ));
    }
    world
}

#[test]
fn a_large_import_fills_every_bulk_request_and_a_small_run_takes_the_binding() {
    // Given 100,000 leads and the bulk API configured beside the binding,
    let mut world = world_with_bulk(100_000);
    // when the first run imports them,
    world.sync(false);
    // then it wrote through the bulk API in ⌈100,000 / 10,000⌉ requests,
    // and the run says which path it took and why.
    assert_eq!(world.kv().data.len(), 100_000);
    assert_eq!(world.kv().bulk_requests, 10);
    assert_eq!(world.kv().binding_requests, 0);
    let import = world.last_run();
    assert_eq!(import.kv_path, Some(KvPath::Bulk));
    let reason = import.kv_path_reason.expect("the choice is explained");
    assert!(reason.contains("100000 rows"), "{reason}");

    // Given 3 leads that change afterwards,
    world.advance(600 * SECOND);
    let later = world.now();
    for i in [7, 70, 700] {
        world
            .warehouse()
            .upsert(Lead::new(&key(i), later, "Grace", i as i64));
    }
    // when the next incremental run syncs them,
    world.sync(false);
    // then it makes no bulk request: 3 binding writes carry it.
    assert_eq!(world.kv().bulk_requests, 10, "no bulk request for 3 rows");
    assert_eq!(world.kv().binding_requests, 3);
    let small = world.last_run();
    assert_eq!(small.kv_path, Some(KvPath::Binding));
    assert_eq!(small.counters.rows_written, 3);
    assert_eq!(world.kv().value(&key(70)).unwrap()["name"], "Grace");
}

#[test]
fn without_the_bulk_api_every_run_takes_the_binding() {
    let mut world = World::new(RunLimits::from_config(&SyncConfig::default()));
    for i in 0..6_000 {
        world
            .warehouse()
            .upsert(Lead::new(&key(i), T0, "Ada", i as i64));
    }
    world.sync(false);
    assert_eq!(world.kv().binding_requests, 6_000);
    assert_eq!(world.kv().bulk_requests, 0);
    let run = world.last_run();
    assert_eq!(run.kv_path, Some(KvPath::Binding));
    assert!(run.kv_path_reason.unwrap().contains("not configured"));
}

#[test]
fn a_run_just_over_the_threshold_takes_the_bulk_api_across_pauses() {
    // Given 5,001 rows (over BULK_MIN_ROWS) and pages of 1,000 rows, so the
    // run spans several pages and the choice must hold on each,
    let mut world = world_with_bulk(5_001);
    world.limits().page_rows = 1_000;
    world.sync(false);
    // then every page went through the bulk API, one request a page.
    assert_eq!(world.kv().binding_requests, 0);
    assert_eq!(world.kv().bulk_requests, 6);
    assert_eq!(world.last_run().kv_path, Some(KvPath::Bulk));
}

#[test]
fn pages_shrink_to_a_byte_bound_once_rows_show_their_size() {
    // Given 1,500 rows of about 16 KiB each and pages bounded to 1 MiB,
    let mut world = World::new(RunLimits {
        page_bytes: 1024 * 1024,
        ..RunLimits::from_config(&SyncConfig::default())
    });
    let big = "x".repeat(16 * 1024);
    for i in 0..1_500 {
        world
            .warehouse()
            .upsert(Lead::new(&key(i), T0, &big, i as i64));
    }
    // when they sync,
    world.sync(false);
    // then every row is in KV, and after the first page (sized before any
    // row was seen) no page carried more than 1 MiB of rows.
    assert_eq!(world.kv().data.len(), 1_500);
    let pages = &world.warehouse().page_rows;
    assert!(pages.len() > 1, "{pages:?}");
    assert!(pages[1..].iter().all(|&rows| rows <= 64), "{pages:?}");
}
