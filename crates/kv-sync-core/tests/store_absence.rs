//! A full read's comparison with the stored keys (`engine::key_walk`,
//! `store/absence.rs`), through rusqlite: exactly the keys the read lacked
//! become orphans whatever order the read came in, a key written after the
//! read began is never one, and a key still in the source costs no row.

mod support;

use kv_sync_core::coordinator::policy::decide::RunStart;
use kv_sync_core::coordinator::policy::status::Trigger;
use kv_sync_core::engine::key_walk::Stretch;
use kv_sync_core::engine::ports::{Checkpoint, Orphan, StateStore, WrittenKey};
use kv_sync_core::engine::progress::{RunMode, RunProgress};
use kv_sync_core::engine::record::ContentHash;
use kv_sync_core::engine::time::MICROS_PER_SECOND;
use kv_sync_core::push::verdict::PushOutcome;
use kv_sync_core::store::sql::Sql;
use kv_sync_core::store::{PushedWrite, Store};
use support::sqlite::Sqlite;

const S: i64 = MICROS_PER_SECOND;
/// When the full read began.
const BEGAN: i64 = 10 * S;

/// A store holding `keys` (written at 1 s) and a full run that began at
/// `BEGAN`, holding the lease.
fn full_read(keys: &[&str]) -> (Store<Sqlite>, u64, RunProgress) {
    let store = Store::new(Sqlite::default());
    store.migrate(0).unwrap();
    let start = RunStart {
        trigger: Trigger::Full,
        since: 0,
        mode: RunMode {
            full: true,
            ..RunMode::default()
        },
        reason: None,
        follow_up: false,
        resume: None,
        late: None,
    };
    let progress = store.create_run(&start, BEGAN).unwrap();
    assert!(progress.walk.is_some(), "a full run walks the keys");
    let fence = store
        .acquire_lease(progress.run_id, BEGAN, BEGAN + 60 * S)
        .unwrap()
        .unwrap()
        .fence;
    let held: Vec<WrittenKey> = keys.iter().map(|k| written(k, S)).collect();
    commit(&store, fence, &progress, &held, &[], None);
    (store, fence, progress)
}

fn written(key: &str, at: i64) -> WrittenKey {
    WrittenKey {
        key: key.into(),
        hash: ContentHash(7),
        written_at: at,
        updated_at: at,
    }
}

fn commit(
    store: &Store<Sqlite>,
    fence: u64,
    progress: &RunProgress,
    written: &[WrittenKey],
    seen: &[String],
    stretch: Option<(Option<&str>, Option<&str>)>,
) {
    let checkpoint = Checkpoint {
        fence,
        progress,
        cursor: None,
        written,
        seen,
        stretch: stretch.map(|(after, through)| Stretch {
            after,
            through,
            written_until: BEGAN,
        }),
        restamped: &[],
        forgotten: &[],
        quarantined: &[],
        lease_expires_at: BEGAN + 60 * S,
        now: BEGAN,
    };
    let mut store = store;
    store.commit(checkpoint).unwrap();
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| k.to_string()).collect()
}

fn orphans(store: &Store<Sqlite>, run: u64) -> Vec<String> {
    let found: Vec<Orphan> = (&store).orphans(run, None, 100).unwrap();
    found.into_iter().map(|o| o.key).collect()
}

const HELD: [&str; 10] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"];

#[test]
fn a_read_out_of_key_order_still_finds_exactly_the_keys_it_lacked() {
    let (store, fence, progress) = full_read(&HELD);
    let run = progress.run_id;
    // The first batch read e and a: b, c and d are absent so far.
    commit(
        &store,
        fence,
        &progress,
        &[],
        &keys(&["e", "a"]),
        Some((None, Some("e"))),
    );
    assert_eq!(orphans(&store, run), ["b", "c", "d"]);
    // The next read c (out of order, below the stretch compared) and j.
    commit(
        &store,
        fence,
        &progress,
        &[],
        &keys(&["c", "j"]),
        Some((Some("e"), Some("j"))),
    );
    // The read ended: nothing above j is held.
    commit(&store, fence, &progress, &[], &[], Some((Some("j"), None)));
    assert_eq!(orphans(&store, run), ["b", "d", "f", "g", "h", "i"]);
    let census = (&store).census(run).unwrap();
    assert_eq!((census.orphans, census.held), (6, 10));
    // An earlier run's marks do not count for a later full read.
    assert_eq!((&store).census(run + 1).unwrap().orphans, 0);
}

#[test]
fn a_key_written_or_pushed_after_the_read_began_is_never_an_orphan() {
    let (store, fence, progress) = full_read(&["a", "b", "c"]);
    let run = progress.run_id;
    commit(
        &store,
        fence,
        &progress,
        &[],
        &keys(&["a"]),
        Some((None, Some("b"))),
    );
    assert_eq!(orphans(&store, run), ["b"]);
    // A push writes b (the source has it now) and a new key x, after the
    // read began; c is written by the run past a failure, unread as yet.
    let push = |key| PushedWrite {
        key,
        hash: ContentHash(9),
        updated_at: 11 * S,
        now: 11 * S,
    };
    store.record_push(&push("b"), PushOutcome::Written).unwrap();
    store.record_push(&push("x"), PushOutcome::Written).unwrap();
    commit(
        &store,
        fence,
        &progress,
        &[written("c", 12 * S)],
        &[],
        Some((Some("b"), None)),
    );
    assert_eq!(orphans(&store, run), Vec::<String>::new());
}

#[test]
fn keys_still_in_the_source_cost_no_storage_row() {
    let held: Vec<String> = (0..1_000).map(|i| format!("lead-{i:04}")).collect();
    let refs: Vec<&str> = held.iter().map(String::as_str).collect();
    let (store, fence, progress) = full_read(&refs);
    let before = store.sql().rows_counted();
    for batch in held.chunks(100) {
        let after = held
            .iter()
            .rev()
            .find(|k| *k < &batch[0])
            .map(String::as_str);
        commit(
            &store,
            fence,
            &progress,
            &[],
            batch,
            Some((after, batch.last().map(String::as_str))),
        );
    }
    commit(
        &store,
        fence,
        &progress,
        &[],
        &[],
        Some((Some("lead-0999"), None)),
    );
    let written = (store.sql().rows_counted() - before).written;
    // Each checkpoint writes its progress and its lease (2 rows); nothing
    // per key.
    assert!(written <= 2 * 11, "{written} rows for 1,000 unchanged keys");
    assert!(orphans(&store, progress.run_id).is_empty());
}

#[test]
fn a_write_attempted_after_the_read_began_but_never_confirmed_proves_nothing() {
    let (store, fence, progress) = full_read(&["a", "b"]);
    // A push of b is attempted after the read began; KV never answered.
    store.note_push_unconfirmed("b", 11 * S).unwrap();
    commit(
        &store,
        fence,
        &progress,
        &[],
        &keys(&["a"]),
        Some((None, None)),
    );
    assert_eq!(orphans(&store, progress.run_id), ["b"]);
}
