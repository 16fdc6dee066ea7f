use super::*;
use crate::coordination::decide::RunRequest;
use crate::engine::error::{RunError, StoreError, WarehouseError};

const S: Micros = MICROS_PER_SECOND;

fn config() -> SyncConfig {
    SyncConfig::default()
}

#[test]
fn a_completed_run_wakes_one_interval_later_or_at_once_for_a_follow_up() {
    let idle = SyncState::default();
    let s = settle(&Outcome::Completed, &idle, 10 * S, &config());
    assert_eq!(
        s,
        Settlement {
            end: RunEnd::Completed,
            wake_at: Some(310 * S)
        }
    );
    let queued = SyncState {
        follow_up: Some(RunRequest::default()),
        ..idle
    };
    assert_eq!(
        settle(&Outcome::Completed, &queued, 10 * S, &config()).wake_at,
        Some(10 * S)
    );
}

#[test]
fn a_paused_run_continues_at_once() {
    let s = settle(
        &Outcome::Paused(Pause::WriteBudget),
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
            let s = settle(&outage, &state, 0, &config());
            let RunEnd::Failed {
                consecutive_failures,
                error,
            } = &s.end
            else {
                panic!("{s:?}")
            };
            assert_eq!(*consecutive_failures, streak + 1);
            assert!(error.starts_with("bigqueryUnreachable: "), "{error}");
            s.wake_at.unwrap() / S
        })
        .collect();
    assert_eq!(delays, vec![10, 20, 40, 80, 160, 300, 300]);
}

#[test]
fn a_lost_lease_stores_nothing_and_leaves_the_alarm_to_the_holder() {
    let lost = Outcome::Failed(RunError::from(StoreError::LeaseLost { fence: 4 }));
    let s = settle(&lost, &SyncState::default(), 0, &config());
    assert_eq!(
        s,
        Settlement {
            end: RunEnd::LeaseLost,
            wake_at: None
        }
    );
}
