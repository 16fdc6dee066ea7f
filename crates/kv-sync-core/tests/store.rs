//! The coordinator's SQL on the host, through rusqlite: migrations, the
//! lease, runs and follow-ups, and checkpoints that are all or nothing.

mod support;

use kv_sync_core::coordinator::policy::decide::RunStart;
use kv_sync_core::coordinator::policy::settle::{Completion, RunEnd, Settlement};
use kv_sync_core::coordinator::policy::status::{RunStatus, Trigger};
use kv_sync_core::engine::cursor::Cursor;
use kv_sync_core::engine::error::{StoreError, WarehouseError};
use kv_sync_core::engine::ports::{Checkpoint, StateStore, StoredHash, WrittenKey};
use kv_sync_core::engine::progress::{RunMode, RunProgress};
use kv_sync_core::engine::record::{ContentHash, Quarantined};
use kv_sync_core::engine::run::Pause;
use kv_sync_core::engine::time::MICROS_PER_SECOND;
use kv_sync_core::store::migrations::MIGRATIONS;
use kv_sync_core::store::sql::{Sql, SqlValue};
use kv_sync_core::store::Store;
use support::sqlite::Sqlite;

const S: i64 = MICROS_PER_SECOND;

fn store() -> Store<Sqlite> {
    let store = Store::new(Sqlite::default());
    store.migrate(0).unwrap();
    store
}

fn start(since: i64) -> RunStart {
    RunStart {
        trigger: Trigger::Webhook,
        since,
        mode: RunMode::default(),
        reason: None,
        follow_up: false,
        resume: None,
        late: None,
    }
}

fn settled(end: RunEnd, wake_at: Option<i64>) -> Settlement {
    Settlement {
        end,
        wake_at,
        suspend: None,
    }
}

fn count(store: &Store<Sqlite>, table: &str) -> i64 {
    store
        .sql()
        .query(&format!("SELECT COUNT(*) AS n FROM {table}"), &[])
        .unwrap()[0]
        .get("n")
        .unwrap()
}

#[test]
fn migrations_build_an_empty_database_and_apply_once() {
    let store = Store::new(Sqlite::default());
    let applied = store.migrate(5).unwrap();
    assert_eq!(applied, MIGRATIONS.iter().map(|m| m.0).collect::<Vec<_>>());
    assert_eq!(
        store.migrate(6).unwrap(),
        Vec::<u32>::new(),
        "a second start applies nothing"
    );
    let state = store.state().unwrap();
    assert_eq!(
        (state.cursor, state.active_run, state.lease),
        (None, None, None)
    );
    assert_eq!(count(&store, "kv_sync_migrations"), MIGRATIONS.len() as i64);
}

#[test]
fn a_version_one_database_is_migrated_with_its_data() {
    let sql = Sqlite::default();
    let (_, name, script) = MIGRATIONS[0];
    sql.run_script("CREATE TABLE kv_sync_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
        .unwrap();
    sql.run_script(script).unwrap();
    let insert = |q: &str, p: &[SqlValue]| sql.execute(q, p).unwrap();
    insert(
        "INSERT INTO kv_sync_migrations VALUES (1, ?, 0)",
        &[SqlValue::Text(name.into())],
    );
    insert(
        "INSERT INTO failed_rows VALUES ('(null key)', 'key is null or empty', 7)",
        &[],
    );
    insert(
        "INSERT INTO failed_rows VALUES ('lead-1', 'value is 30000000 bytes', 8)",
        &[],
    );
    insert(
        "INSERT INTO key_hashes VALUES ('lead-2', '00000000000000ab', 9)",
        &[],
    );
    insert(
        "UPDATE sync_state SET cursor_updated_at = 9, cursor_key = 'lead-2' WHERE id = 1",
        &[],
    );
    let store = Store::new(sql);
    assert_eq!(
        store.migrate(10).unwrap(),
        MIGRATIONS[1..].iter().map(|m| m.0).collect::<Vec<_>>(),
        "every later version, in order"
    );
    let rows = store.recent_failures(10).unwrap();
    assert_eq!(
        store.state().unwrap().failed_listed,
        2,
        "the count is carried over"
    );
    assert_eq!(rows[0].key.as_deref(), Some("lead-1"));
    assert_eq!(rows[1].key, None, "the old keyless entry has no key now");
    assert_eq!(
        store.state().unwrap().cursor,
        Some(Cursor::new(9, "lead-2"))
    );
    let hashes = (&store).stored_hashes(&["lead-2"]).unwrap();
    assert_eq!(
        hashes,
        vec![Some(StoredHash {
            hash: ContentHash(0xab),
            written_at: 9,
            updated_at: None,
            by_push: false,
        })]
    );
}

#[test]
fn the_lease_blocks_a_second_holder_until_it_lapses_or_is_released() {
    let store = store();
    let run = store.create_run(&start(0), 0).unwrap();
    let first = store.acquire_lease(run.run_id, 0, 10 * S).unwrap().unwrap();
    let held = store.acquire_lease(run.run_id, 5 * S, 10 * S).unwrap();
    assert_eq!(held, Err(first), "a live holder keeps it");
    let second = store
        .acquire_lease(run.run_id, 10 * S, 10 * S)
        .unwrap()
        .unwrap();
    assert_eq!(second.fence, first.fence + 1);
    store.release_lease(first.fence, 11 * S).unwrap();
    assert_eq!(
        store.state().unwrap().lease,
        Some(second),
        "a stale holder cannot release"
    );
    store.release_lease(second.fence, 11 * S).unwrap();
    assert!(store
        .acquire_lease(run.run_id, 11 * S, 10 * S)
        .unwrap()
        .is_ok());
}

#[test]
fn runs_are_recorded_paused_and_finished_with_totals_and_a_failure_streak() {
    let store = store();
    let mut progress = store.create_run(&start(42), S).unwrap();
    assert_eq!(progress.since, 42);
    assert_eq!(store.state().unwrap().active_run, Some(progress.run_id));
    let lease = store
        .acquire_lease(progress.run_id, S, 10 * S)
        .unwrap()
        .unwrap();
    progress.invocations = 1;
    progress.counters.rows_read = 10;
    store
        .record_end(
            lease.fence,
            &progress,
            &settled(RunEnd::Paused(Pause::WriteBudget), Some(2 * S)),
            2 * S,
        )
        .unwrap();
    assert_eq!(store.progress(progress.run_id).unwrap(), progress);
    assert!(
        !store.state().unwrap().lease.unwrap().is_live(2 * S),
        "the next invocation may take over"
    );
    let failed = RunEnd::Failed {
        error: WarehouseError::Unreachable("refused".into()).into(),
        consecutive_failures: 1,
    };
    store
        .record_end(
            lease.fence,
            &progress,
            &settled(failed, Some(13 * S)),
            3 * S,
        )
        .unwrap();
    let run = store.run(progress.run_id).unwrap();
    assert_eq!(
        (run.status, run.finished_at),
        (RunStatus::Failed, Some(3 * S))
    );
    assert_eq!(
        run.error.as_deref(),
        Some("bigqueryUnreachable: BigQuery: refused")
    );
    assert_eq!(run.error_class.as_deref(), Some("bigqueryUnreachable"));
    let state = store.state().unwrap();
    assert_eq!((state.active_run, state.consecutive_failures), (None, 1));
    assert_eq!(state.next_sync_at, Some(13 * S), "the retry is scheduled");
    let next = store.create_run(&start(0), 4 * S).unwrap();
    let lease = store
        .acquire_lease(next.run_id, 4 * S, 10 * S)
        .unwrap()
        .unwrap();
    let mut next = next;
    next.query_started_at = Some(4 * S);
    next.schema = Some("0000000000000abc".into());
    let done = RunEnd::Completed(Completion {
        success_at: Some(4 * S),
        schema_digest: next.schema.clone(),
        ..Completion::default()
    });
    store
        .record_end(lease.fence, &next, &settled(done, Some(305 * S)), 5 * S)
        .unwrap();
    let state = store.state().unwrap();
    assert_eq!(
        (state.last_success_at, state.next_sync_at),
        (Some(4 * S), Some(305 * S))
    );
    assert_eq!(state.schema_digest.as_deref(), Some("0000000000000abc"));
    let state = store.state().unwrap();
    assert_eq!(
        (
            state.consecutive_failures,
            state.totals.runs,
            state.totals.rows_written
        ),
        (0, 2, 0)
    );
    let recent = store.recent_runs(20).unwrap();
    assert_eq!(
        recent.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![next.run_id, progress.run_id]
    );
}

#[test]
fn a_follow_up_keeps_every_flag_until_its_run_is_recorded() {
    let store = store();
    let asked = RunMode {
        full: true,
        rewrite: true,
        allow_mass_delete: false,
    };
    store.queue_follow_up(asked).unwrap();
    assert_eq!(store.state().unwrap().follow_up, Some(asked));
    let follow_up = RunStart {
        follow_up: true,
        ..start(0)
    };
    // A start that fails leaves the ask queued: nothing is lost.
    *store.sql().fail_statements_containing.borrow_mut() = Some("INSERT INTO runs".into());
    assert!(store.create_run(&follow_up, 0).is_err());
    assert_eq!(store.state().unwrap().follow_up, Some(asked));
    *store.sql().fail_statements_containing.borrow_mut() = None;
    store.create_run(&follow_up, 0).unwrap();
    assert_eq!(store.state().unwrap().follow_up, None);
}

fn checkpoint_fixture(store: &Store<Sqlite>) -> (u64, kv_sync_core::engine::progress::RunProgress) {
    let mut progress = store.create_run(&start(0), 0).unwrap();
    let lease = store
        .acquire_lease(progress.run_id, 0, 10 * S)
        .unwrap()
        .unwrap();
    progress.position = Some(Cursor::new(5 * S, "b"));
    progress.counters.rows_read = 3;
    (lease.fence, progress)
}

fn written(keys: &[&str]) -> Vec<WrittenKey> {
    keys.iter()
        .map(|k| WrittenKey {
            key: (*k).into(),
            hash: ContentHash(7),
            written_at: S,
            updated_at: S / 2,
        })
        .collect()
}

fn quarantined(key: &str) -> Vec<Quarantined> {
    vec![Quarantined {
        key: Some(key.into()),
        position: Some(Cursor::new(4 * S, key)),
        reason: "value is 30000000 bytes".into(),
        digest: None,
    }]
}

#[test]
fn a_checkpoint_stores_cursor_hashes_and_failures_and_a_fenced_off_one_nothing() {
    let store = store();
    let (fence, progress) = checkpoint_fixture(&store);
    let checkpoint = Checkpoint {
        fence,
        progress: &progress,
        cursor: progress.position.as_ref(),
        written: &written(&["a", "b"]),
        seen: &[],
        stretch: None,
        restamped: &[],
        forgotten: &[],
        quarantined: &quarantined("c"),
        lease_expires_at: 20 * S,
        now: S,
    };
    (&store).commit(checkpoint.clone()).unwrap();
    assert_eq!(store.state().unwrap().cursor, Some(Cursor::new(5 * S, "b")));
    assert_eq!(count(&store, "key_hashes"), 2);
    assert_eq!(store.state().unwrap().failed_listed, 1);
    let stale = Checkpoint {
        fence: fence + 1,
        ..checkpoint
    };
    assert_eq!(
        (&store).commit(stale),
        Err(StoreError::LeaseLost { fence: fence + 1 })
    );
    // The cursor never moves backward.
    let mut behind = progress.clone();
    behind.position = Some(Cursor::new(S, "z"));
    let back = Checkpoint {
        progress: &behind,
        cursor: behind.position.as_ref(),
        written: &[],
        quarantined: &[],
        ..checkpoint
    };
    (&store).commit(back).unwrap();
    assert_eq!(store.state().unwrap().cursor, Some(Cursor::new(5 * S, "b")));
}

#[test]
fn a_checkpoint_whose_last_statement_fails_stores_nothing() {
    let store = store();
    let (fence, progress) = checkpoint_fixture(&store);
    *store.sql().fail_statements_containing.borrow_mut() = Some("INSERT INTO failed_rows".into());
    let e = (&store)
        .commit(Checkpoint {
            fence,
            progress: &progress,
            cursor: progress.position.as_ref(),
            written: &written(&["a", "b"]),
            seen: &[],
            stretch: None,
            restamped: &[],
            forgotten: &[],
            quarantined: &quarantined("c"),
            lease_expires_at: 20 * S,
            now: S,
        })
        .unwrap_err();
    assert!(matches!(e, StoreError::Storage(_)), "{e:?}");
    *store.sql().fail_statements_containing.borrow_mut() = None;
    assert_eq!(
        store.state().unwrap().cursor,
        None,
        "the cursor did not move"
    );
    assert_eq!(count(&store, "key_hashes"), 0, "no hash was kept");
    assert_eq!(
        store.progress(progress.run_id).unwrap().counters.rows_read,
        0,
        "nor the progress"
    );
    assert_eq!(
        store.state().unwrap().lease.unwrap().expires_at,
        10 * S,
        "nor the lease extension"
    );
}

#[test]
fn thousands_of_long_keys_fit_one_checkpoint() {
    let store = store();
    let (fence, progress) = checkpoint_fixture(&store);
    let keys: Vec<String> = (0..10_000).map(|i| format!("{i:0>500}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    (&store)
        .commit(Checkpoint {
            fence,
            progress: &progress,
            cursor: progress.position.as_ref(),
            written: &written(&refs),
            seen: &[],
            stretch: None,
            restamped: &[],
            forgotten: &[],
            quarantined: &[],
            lease_expires_at: 20 * S,
            now: S,
        })
        .unwrap();
    assert_eq!(count(&store, "key_hashes"), 10_000);
    let hashes = (&store).stored_hashes(&refs).unwrap();
    assert!(hashes
        .iter()
        .all(|h| h.is_some_and(|h| h.hash == ContentHash(7))));
}

/// Commits a checkpoint that quarantines the rows `bad-NNNNN` of `keys`.
fn quarantine(
    store: &Store<Sqlite>,
    fence: u64,
    progress: &RunProgress,
    keys: std::ops::Range<usize>,
    reason: &str,
    now: i64,
) {
    let quarantined: Vec<Quarantined> = keys
        .map(|i| Quarantined {
            key: Some(format!("bad-{i:05}")),
            position: None,
            reason: reason.into(),
            digest: None,
        })
        .collect();
    commit_quarantined(store, fence, progress, &quarantined, now);
}

/// Commits a checkpoint that quarantines `rows` and does nothing else.
fn commit_quarantined(
    store: &Store<Sqlite>,
    fence: u64,
    progress: &RunProgress,
    rows: &[Quarantined],
    now: i64,
) {
    let mut handle = store;
    handle
        .commit(Checkpoint {
            fence,
            progress,
            cursor: None,
            written: &[],
            seen: &[],
            stretch: None,
            restamped: &[],
            forgotten: &[],
            quarantined: rows,
            lease_expires_at: 20 * S,
            now,
        })
        .unwrap();
}

#[test]
fn the_recent_failed_rows_list_one_row_without_a_key_for_all_of_them() {
    let store = store();
    let (fence, progress) = checkpoint_fixture(&store);
    quarantine(&store, fence, &progress, 0..3, "value is too large", S);
    let keyless: Vec<Quarantined> = (0..5u64)
        .map(|i| Quarantined {
            key: None,
            position: None,
            reason: "key is null or empty".into(),
            digest: Some(ContentHash(i)),
        })
        .collect();
    commit_quarantined(&store, fence, &progress, &keyless, 2 * S);
    let state = store.state().unwrap();
    assert_eq!(state.failed_listed, 8, "each row without a key is counted");
    let recent = store.recent_failures(20).unwrap();
    assert_eq!(recent.len(), 4);
    assert_eq!(recent[0].key, None, "the newest first");
    assert_eq!(recent.iter().filter(|r| r.key.is_none()).count(), 1);
}

#[test]
fn a_pruned_failed_row_read_again_is_counted_once() {
    let store = store();
    let (fence, progress) = checkpoint_fixture(&store);
    let commit = |keys: std::ops::Range<usize>, now: i64| {
        quarantine(&store, fence, &progress, keys, "updated_at is null", now)
    };
    let total = |store: &Store<Sqlite>| {
        let state = store.state().unwrap();
        state.failed_listed + state.failed_pruned
    };
    commit(0..10_050, S);
    assert_eq!(total(&store), 10_050);
    // Every run reads the same failing rows again, the pruned ones too
    for run in 2..5 {
        commit(0..10_050, run * S);
        assert_eq!(total(&store), 10_050, "run {run}");
    }
    assert_eq!(
        count(&store, "failed_rows"),
        10_000,
        "the list stays bounded"
    );
    // A written key leaves the count, listed or pruned
    let oldest = store
        .recent_failures(10_000)
        .unwrap()
        .last()
        .unwrap()
        .key
        .clone()
        .unwrap();
    (&store)
        .commit(Checkpoint {
            fence,
            progress: &progress,
            cursor: None,
            written: &written(&[oldest.as_str(), "bad-00000"]),
            seen: &[],
            stretch: None,
            restamped: &[],
            forgotten: &[],
            quarantined: &[],
            lease_expires_at: 20 * S,
            now: 6 * S,
        })
        .unwrap();
    assert_eq!(total(&store), 10_048);
}

#[test]
fn failed_rows_keep_the_newest_ten_thousand_and_count_them_all() {
    let store = store();
    let (fence, progress) = checkpoint_fixture(&store);
    let commit = |keys: std::ops::Range<usize>, now: i64| {
        quarantine(
            &store,
            fence,
            &progress,
            keys,
            "value is 30000000 bytes",
            now,
        )
    };
    commit(0..6_000, S);
    commit(6_000..10_050, 2 * S);
    commit(9_000..9_010, 3 * S); // reported again: counted once
    let state = store.state().unwrap();
    assert_eq!((state.failed_listed, state.failed_pruned), (10_000, 50));
    assert_eq!(count(&store, "failed_rows"), 10_000);
    let newest = store.recent_failures(20).unwrap();
    assert_eq!(newest[0].at, 3 * S);
    // A written key is no longer failing.
    (&store)
        .commit(Checkpoint {
            fence,
            progress: &progress,
            cursor: None,
            written: &written(&["bad-06000"]),
            seen: &[],
            stretch: None,
            restamped: &[],
            forgotten: &[],
            quarantined: &[],
            lease_expires_at: 20 * S,
            now: 4 * S,
        })
        .unwrap();
    assert_eq!(store.state().unwrap().failed_listed, 9_999);
}
