//! What a full read costs in storage, and a full read begun by an older
//! version: with nothing changed it writes rows for its checkpoints, not
//! for the keys it read (SPEC "Cost and explanation"), and still deletes
//! exactly what left the source; one whose checkpoint predates the key
//! walk completes, deletes nothing, says so, and leaves it to the next.

mod support;

use kv_sync_core::engine::limits::RunLimits;
use kv_sync_core::engine::time::{Micros, MICROS_PER_SECOND};
use kv_sync_core::params;
use kv_sync_core::settings::SyncConfig;
use kv_sync_core::store::sql::Sql;
use support::fakes::warehouse::Lead;
use support::world::World;

const SECOND: Micros = MICROS_PER_SECOND;

fn key(i: usize) -> String {
    format!("lead-{i:04}")
}

/// `n` leads in the source and in KV, after a first (full) read.
fn mirrored(n: usize, limits: RunLimits) -> World {
    let mut w = World::new(limits);
    let t = w.now() - 100 * SECOND;
    for i in 0..n {
        // Stamps that do not follow the keys: the full read's key order
        // is not the order of the incremental runs.
        let at = t + ((i * 7919) % n) as Micros * 1_000;
        w.warehouse()
            .upsert(Lead::new(&key(i), at, "Ada", i as i64));
    }
    w.sync(false);
    assert_eq!(w.kv().data.len(), n);
    w
}

#[test]
fn a_full_read_of_three_thousand_unchanged_keys_writes_a_few_hundred_storage_rows() {
    // Given 3,000 keys in KV as in the source, and one that then left it
    let mut w = mirrored(3_000, RunLimits::from_config(&SyncConfig::default()));
    w.warehouse().remove(&key(1234));
    w.advance(60 * SECOND);
    // When a full read runs
    let before = w.store().sql().rows_counted();
    w.sync(true);
    let counted = w.store().sql().rows_counted() - before;
    // Then it wrote storage rows for what changed, not for each key read
    assert!(
        counted.written <= 300,
        "a full read of 3,000 unchanged keys wrote {} storage rows",
        counted.written
    );
    let run = w.last_run();
    assert_eq!(run.counters.rows_read, 2_999);
    assert_eq!(run.counters.rows_written, 0);
    // And the key that left the source is gone, and only that one
    assert_eq!(run.counters.rows_orphaned, 1);
    assert_eq!(w.kv().value(&key(1234)), None);
    assert_eq!(w.kv().data.len(), 2_999);
    assert_eq!(w.stored_keys(), 2_999);
}

#[test]
fn a_full_read_begun_by_an_older_version_deletes_nothing_and_the_next_one_does() {
    // Given a full read under way whose checkpoint an older version wrote
    // (it marked each key it read, and knows no key walk)
    let small = RunLimits {
        page_rows: 10,
        batch_rows: 10,
        max_kv_requests: 1,
        ..RunLimits::from_config(&SyncConfig::default())
    };
    let mut w = mirrored(40, small);
    w.warehouse().remove(&key(7));
    // (every other row changed, so the read takes several invocations)
    let at = w.now();
    for i in (0..40).filter(|i| *i != 7) {
        w.warehouse().upsert(Lead::new(&key(i), at, "Bo", i as i64));
    }
    w.start_run(true);
    w.invoke();
    let run = w.state().active_run.expect("the full read is under way");
    w.store()
        .sql()
        .execute(
            "UPDATE runs SET checkpoint = json_remove(checkpoint, '$.walk') WHERE id = ?",
            params![run],
        )
        .unwrap();
    // When it completes under this version
    w.run_to_completion(1_000);
    // Then it deleted nothing and says why
    let last = w.last_run();
    assert_eq!(last.counters.rows_orphaned, 0);
    let warning = last.warning.unwrap_or_default();
    assert!(warning.contains("older kv-sync"), "{warning}");
    assert!(w.kv().value(&key(7)).is_some());
    // And the next full read deletes what left the source
    w.sync(true);
    assert_eq!(w.last_run().counters.rows_orphaned, 1);
    assert_eq!(w.kv().value(&key(7)), None);
}
