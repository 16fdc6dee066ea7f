use super::*;
use crate::engine::error::{RunError, StoreError, WarehouseError};
use crate::engine::progress::RunMode;
use crate::engine::time::MICROS_PER_SECOND;

const S: Micros = MICROS_PER_SECOND;

fn config() -> SyncConfig {
    SyncConfig::default()
}

fn progress() -> RunProgress {
    RunProgress {
        query_started_at: Some(5 * S),
        schema: Some("00000000000000aa".into()),
        ..RunProgress::new(1, 0, RunMode::default(), 0)
    }
}

#[test]
fn a_completed_run_wakes_one_interval_later_or_at_once_for_a_follow_up() {
    let idle = SyncState::default();
    let s = settle(&Outcome::Completed, &progress(), &idle, 10 * S, &config());
    assert!(matches!(s.end, RunEnd::Completed(_)));
    assert_eq!(s.wake_at, Some(310 * S));
    let queued = SyncState {
        follow_up: Some(RunMode::default()),
        ..idle
    };
    assert_eq!(
        settle(&Outcome::Completed, &progress(), &queued, 10 * S, &config()).wake_at,
        Some(10 * S)
    );
}

#[test]
fn a_completed_run_records_its_freshness_and_asks_for_a_full_read_when_the_columns_changed() {
    let before = SyncState {
        schema_digest: Some("00000000000000aa".into()),
        ..SyncState::default()
    };
    let completion = |state: &SyncState, progress: &RunProgress| match settle(
        &Outcome::Completed,
        progress,
        state,
        0,
        &config(),
    )
    .end
    {
        RunEnd::Completed(c) => c,
        other => panic!("{other:?}"),
    };
    let same = completion(&before, &progress());
    assert_eq!(
        (same.success_at, same.full_read_reason, same.query_digest),
        (Some(5 * S), None, None)
    );
    let changed = RunProgress {
        schema: Some("00000000000000bb".into()),
        ..progress()
    };
    let asked = completion(&before, &changed);
    assert!(asked.full_read_reason.unwrap().contains("columns"));
    assert_eq!(asked.schema_digest.as_deref(), Some("00000000000000bb"));
    let pending = SyncState {
        full_read_reason: Some(
            "the result's columns (names or types) changed since the last run".into(),
        ),
        ..before.clone()
    };
    assert!(
        completion(&pending, &progress()).full_read_reason.is_some(),
        "an incremental run does not settle it"
    );
    let full = RunProgress {
        mode: RunMode {
            full: true,
            ..RunMode::default()
        },
        query_digest: Some("digest of the query its job read".into()),
        ..changed
    };
    let settled = completion(&pending, &full);
    assert_eq!(settled.full_read_reason, None, "a full read settles it");
    assert_eq!(
        settled.query_digest.as_deref(),
        Some("digest of the query its job read"),
        "the query its job read, whatever is deployed now"
    );
}

#[test]
fn a_paused_run_continues_at_once() {
    let s = settle(
        &Outcome::Paused(Pause::WriteBudget),
        &progress(),
        &SyncState::default(),
        10 * S,
        &config(),
    );
    assert_eq!(s.end, RunEnd::Paused(Pause::WriteBudget));
    assert_eq!(s.wake_at, Some(10 * S));
}

#[test]
fn failures_back_off_doubling_up_to_the_interval() {
    let outage = Outcome::Failed(RunError::from(WarehouseError::Unreachable(
        "refused".into(),
    )));
    let delays: Vec<Micros> = (0..7)
        .map(|streak| {
            let state = SyncState {
                consecutive_failures: streak,
                ..SyncState::default()
            };
            let s = settle(&outage, &progress(), &state, 0, &config());
            let RunEnd::Failed {
                consecutive_failures,
                error,
            } = &s.end
            else {
                panic!("{s:?}")
            };
            assert_eq!(*consecutive_failures, streak + 1);
            assert_eq!(error.class(), "bigqueryUnreachable", "{error}");
            s.wake_at.unwrap() / S
        })
        .collect();
    assert_eq!(delays, vec![10, 20, 40, 80, 160, 300, 300]);
}

#[test]
fn a_lost_lease_stores_nothing_and_leaves_the_alarm_to_the_holder() {
    let lost = Outcome::Failed(RunError::from(StoreError::LeaseLost { fence: 4 }));
    let s = settle(&lost, &progress(), &SyncState::default(), 0, &config());
    assert_eq!(
        s,
        Settlement {
            end: RunEnd::LeaseLost,
            wake_at: None,
            suspend: None,
        }
    );
}
