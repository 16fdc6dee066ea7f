//! The exact mirror on the host: rows removed at the source leave KV (with
//! the guards), a forced rewrite repairs KV, and hostile rows (stamped in
//! the future, without `updated_at`, keys KV refuses, one key twice) never
//! stall, hide or poison anything.

mod support;

use kv_sync_core::engine::limits::{RunLimits, CLOCK_SKEW};
use kv_sync_core::engine::progress::RunMode;
use kv_sync_core::engine::time::{Micros, MICROS_PER_SECOND};
use kv_sync_core::settings::SyncConfig;
use serde_json::json;
use support::fakes::warehouse::Lead;
use support::world::World;

const SECOND: Micros = MICROS_PER_SECOND;

fn world(page_rows: u32, max_kv_requests: u32) -> World {
    World::new(RunLimits {
        page_rows,
        batch_rows: 7,
        max_kv_requests,
        ..RunLimits::from_config(&SyncConfig::default())
    })
}

fn key(i: usize) -> String {
    format!("lead-{i:03}")
}

fn seed(world: &mut World, n: usize) {
    let t = world.now() - 100 * SECOND;
    for i in 0..n {
        world.warehouse().upsert(Lead::new(
            &key(i),
            t + (i as i64 % 5) * SECOND,
            "Ada",
            i as i64,
        ));
    }
}

#[test]
fn keys_removed_at_the_source_are_deleted_by_a_full_run_and_only_those() {
    // Given 100 rows in KV,
    let mut w = world(13, 3);
    seed(&mut w, 100);
    w.sync(false);
    assert_eq!(w.kv().data.len(), 100);
    // when 5 leave the source, an incremental run deletes nothing,
    for i in [3, 17, 42, 77, 99] {
        w.warehouse().remove(&key(i));
    }
    w.advance(60 * SECOND);
    w.sync(false);
    assert_eq!(
        w.kv().data.len(),
        100,
        "only a full read can tell a row left"
    );
    // and a full run deletes exactly those 5, across invocations.
    w.sync(true);
    let run = w.last_run();
    assert_eq!(run.counters.rows_orphaned, 5);
    assert_eq!(run.warning, None);
    assert!(
        run.invocations > 1,
        "the orphans were deleted within the write budget"
    );
    assert_eq!(w.kv().data.len(), 95);
    for i in [3, 17, 42, 77, 99] {
        assert_eq!(w.kv().value(&key(i)), None);
    }
    assert_eq!(w.stored_keys(), 95, "kv-sync forgot them");
    // A second full run finds nothing more to delete.
    w.sync(true);
    assert_eq!(w.last_run().counters.rows_orphaned, 0);
    assert_eq!(w.kv().deletes, 5);
}

#[test]
fn an_empty_source_deletes_nothing_and_says_why() {
    let mut w = world(50, 1_000);
    seed(&mut w, 30);
    w.sync(false);
    w.warehouse().rows.clear();
    w.sync(true);
    let run = w.last_run();
    assert_eq!(run.counters.rows_orphaned, 0);
    assert!(
        run.warning.as_deref().unwrap().contains("returned no rows"),
        "{:?}",
        run.warning
    );
    assert_eq!(w.kv().data.len(), 30, "nothing was deleted");
}

#[test]
fn a_mass_delete_is_held_back_unless_allowed() {
    let mut w = world(50, 1_000);
    seed(&mut w, 50);
    w.sync(false);
    for i in 0..15 {
        w.warehouse().remove(&key(i));
    }
    w.sync(true);
    let warning = w.last_run().warning.expect("held back");
    assert!(
        warning.contains("15 of the 50 keys") && warning.contains("30.0%"),
        "{warning}"
    );
    assert!(warning.contains("allow_mass_delete=true"), "{warning}");
    assert_eq!(w.kv().data.len(), 50);
    w.sync_with(RunMode {
        full: true,
        allow_mass_delete: true,
        ..RunMode::default()
    });
    assert_eq!(w.last_run().counters.rows_orphaned, 15);
    assert_eq!(w.kv().data.len(), 35);
}

#[test]
fn tombstones_of_rows_gone_from_the_source_are_forgotten_by_a_full_run() {
    let mut w = world(50, 1_000);
    seed(&mut w, 20);
    let mut gone = Lead::new("tomb", w.now(), "x", 1);
    gone.deleted = true;
    w.warehouse().upsert(gone);
    w.sync(false);
    assert_eq!(
        w.stored_keys(),
        21,
        "the delete is remembered as a tombstone"
    );
    w.sync(true);
    assert_eq!(w.stored_keys(), 21, "a tombstone still in the source stays");
    w.warehouse().remove("tomb");
    w.sync(true);
    assert_eq!(w.stored_keys(), 20, "one gone from the source is forgotten");
    assert_eq!(
        w.last_run().counters.rows_orphaned,
        0,
        "and not deleted again"
    );
}

#[test]
fn a_forced_rewrite_repairs_kv_changed_behind_kv_syncs_back() {
    let mut w = world(50, 1_000);
    seed(&mut w, 10);
    w.sync(false);
    w.kv().data.remove(&key(2));
    w.kv().data.get_mut(&key(5)).unwrap().0 = "{\"tampered\":true}".into();
    w.sync(true);
    assert_eq!(
        w.kv().value(&key(2)),
        None,
        "a plain full run trusts its hashes"
    );
    let writes = w.kv().writes();
    w.sync_with(RunMode {
        full: true,
        rewrite: true,
        ..RunMode::default()
    });
    assert_eq!(w.kv().writes() - writes, 10, "every value was written");
    assert_eq!(
        w.kv().value(&key(2)),
        Some(json!({"name": "Ada", "visits": 2}))
    );
    assert_eq!(
        w.kv().value(&key(5)),
        Some(json!({"name": "Ada", "visits": 5}))
    );
}

#[test]
fn a_row_stamped_in_the_future_never_hides_the_rows_after_it() {
    let mut w = world(50, 1_000);
    seed(&mut w, 5);
    let year_2099 = 4_070_908_800 * SECOND;
    w.warehouse()
        .upsert(Lead::new("from-2099", year_2099, "Future", 1));
    w.sync(false);
    assert_eq!(
        w.kv().value("from-2099"),
        Some(json!({"name": "Future", "visits": 1}))
    );
    let cursor = w.cursor().unwrap();
    assert!(cursor.updated_at <= w.now() + CLOCK_SKEW, "{cursor:?}");
    w.advance(120 * SECOND);
    let now = w.now();
    for i in 0..10 {
        w.warehouse()
            .upsert(Lead::new(&format!("new-{i}"), now, "Later", i));
    }
    let writes = w.kv().writes();
    w.sync(false);
    for i in 0..10 {
        assert_eq!(
            w.kv().value(&format!("new-{i}")),
            Some(json!({"name": "Later", "visits": i}))
        );
    }
    assert_eq!(
        w.kv().writes() - writes,
        10,
        "the future row is not rewritten"
    );
}

#[test]
fn keys_kv_refuses_are_quarantined_with_kvs_reason_and_the_rest_are_written() {
    let mut w = world(8, 1_000);
    seed(&mut w, 28);
    let now = w.now();
    w.warehouse()
        .upsert(Lead::new(".", now - 50 * SECOND, "Dot", 1));
    w.warehouse()
        .upsert(Lead::new("..", now - 40 * SECOND, "Dots", 2));
    w.sync(false);
    assert_eq!(w.kv().data.len(), 28);
    let failed = w.failed_rows();
    assert!(
        failed["."].contains("is not allowed as a key name"),
        "{failed:?}"
    );
    assert!(
        failed[".."].starts_with("KV refused the write: TypeError"),
        "{failed:?}"
    );
    let run = w.last_run();
    assert_eq!(
        (run.counters.rows_failed, run.counters.rows_written),
        (2, 28)
    );
    assert!(
        w.cursor().unwrap().updated_at >= now - 40 * SECOND,
        "the cursor passed them"
    );
}

#[test]
fn a_row_without_updated_at_is_reported_naming_the_column() {
    let mut w = world(50, 1_000);
    seed(&mut w, 3);
    w.warehouse().upsert(Lead {
        updated_at: None,
        ..Lead::new("undated", 0, "x", 1)
    });
    w.sync(false);
    assert!(w.failed_rows()["undated"].contains("updated_at is null"));
    assert_eq!(w.state().failed_listed, 1);
    w.sync(false);
    assert_eq!(w.state().failed_listed, 1, "reported again, counted once");
}

#[test]
fn one_key_twice_settles_on_the_same_row_every_run() {
    let mut w = world(1, 1_000);
    let t = w.now() - 10 * SECOND;
    w.warehouse().upsert(Lead::new("twice", t, "Ada", 1));
    w.warehouse()
        .duplicates
        .push(Lead::new("twice", t, "Grace", 2));
    w.warehouse()
        .duplicates
        .push(Lead::new("twice", t - SECOND, "Older", 3));
    w.warehouse().upsert(Lead::new("other", t, "Linus", 4));
    w.sync(false);
    let settled = w.kv().value("twice");
    assert_eq!(
        settled,
        Some(json!({"name": "Grace", "visits": 2})),
        "the greater of the newest"
    );
    let writes = w.kv().writes();
    for _ in 0..3 {
        w.sync(false);
    }
    assert_eq!(
        w.kv().writes(),
        writes,
        "no flapping rewrites inside the lookback"
    );
}

#[test]
fn with_a_ttl_a_full_read_comes_once_per_half_ttl_whatever_the_tombstones() {
    let mut w = world(50, 1_000);
    w.deploy(&[
        ("KV_EXPIRATION_TTL_SECONDS", "60"),
        ("SYNC_INTERVAL_SECONDS", "10"),
    ]);
    let config = SyncConfig {
        kv_expiration_ttl_seconds: 60,
        interval_seconds: 10,
        ..SyncConfig::default()
    };
    let lease_ttl = w.limits().lease_ttl;
    *w.limits() = RunLimits {
        lease_ttl,
        ..RunLimits::from_config(&config)
    };
    seed(&mut w, 10);
    let mut tomb = Lead::new("tomb", w.now() - 50 * SECOND, "x", 1);
    tomb.deleted = true;
    w.warehouse().upsert(tomb);
    let mut full_reads = Vec::new();
    for tick in 0..12 {
        if w.alarm() == Some(true) {
            full_reads.push(tick * 10);
        }
        w.advance(10 * SECOND);
    }
    // An alarm every 10 s for 120 s: a full read at 0, 30, 60 and 90 s.
    assert_eq!(full_reads, vec![0, 30, 60, 90]);
    let metadata = w.kv().data[&key(0)].1;
    assert!(
        w.now() - metadata.synced_at < 60 * SECOND,
        "values never reach their TTL"
    );
}

#[test]
fn a_full_run_of_one_sync_never_deletes_another_syncs_keys_in_a_shared_namespace() {
    // Given two syncs writing into one namespace under their own prefixes,
    let limits = world(50, 1_000).limits().clone();
    let mut leads = World::named(limits.clone(), "leads", "lead:");
    let mut companies = World::named(limits, "companies", "co:");
    companies.share_kv_with(&leads);
    seed(&mut leads, 20);
    seed(&mut companies, 10);
    // (the same source keys in both: only the prefix tells them apart)
    leads.sync(false);
    companies.sync(false);
    assert_eq!(companies.kv().data.len(), 30);
    assert!(
        companies.kv().data.contains_key("co:lead-003")
            && companies.kv().data.contains_key("lead:lead-003")
    );
    // when every company leaves its source and a full run may delete them all,
    companies.warehouse().rows.clear();
    companies
        .warehouse()
        .upsert(Lead::new("survivor", companies.now(), "x", 1));
    companies.sync_with(RunMode {
        full: true,
        allow_mass_delete: true,
        ..RunMode::default()
    });
    // then only that sync's keys are gone.
    assert_eq!(companies.last_run().counters.rows_orphaned, 10);
    let kv = &companies.kv().data.clone();
    assert_eq!(
        kv.keys().filter(|k| k.starts_with("lead:")).count(),
        20,
        "the other sync's keys stay"
    );
    assert_eq!(
        kv.keys()
            .filter(|k| k.starts_with("co:"))
            .collect::<Vec<_>>(),
        vec!["co:survivor"]
    );
}
