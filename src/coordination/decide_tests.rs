use super::*;
use crate::engine::cursor::Cursor;
use crate::engine::lease::RunLease;

const S: Micros = MICROS_PER_SECOND;

fn config() -> SyncConfig {
    SyncConfig::default()
}

fn with_cursor(at: Micros) -> SyncState {
    SyncState {
        cursor: Some(Cursor::new(at, "k")),
        ..SyncState::default()
    }
}

#[test]
fn a_run_reads_from_the_cursor_minus_the_lookback_or_from_the_beginning() {
    let state = with_cursor(1_000 * S);
    assert_eq!(
        start_run(&state, Trigger::Alarm, false, &config()).since,
        400 * S
    );
    assert_eq!(
        start_run(&state, Trigger::Full, true, &config()).since,
        BEGINNING_OF_TIME
    );
    let first = start_run(&SyncState::default(), Trigger::Webhook, false, &config());
    assert_eq!(
        first.since, BEGINNING_OF_TIME,
        "the first run reads everything"
    );
}

#[test]
fn an_alarm_continues_a_run_whose_lease_lapsed_and_waits_for_a_live_one() {
    let lease = RunLease {
        run_id: 7,
        fence: 3,
        expires_at: 100 * S,
    };
    let state = SyncState {
        active_run: Some(7),
        lease: Some(lease),
        ..SyncState::default()
    };
    assert_eq!(
        on_alarm(&state, 99 * S, false, &config()),
        AlarmAction::WaitForLease { until: 100 * S }
    );
    assert_eq!(
        on_alarm(&state, 100 * S, false, &config()),
        AlarmAction::Continue { run_id: 7 }
    );
}

#[test]
fn an_alarm_starts_the_queued_follow_up_else_a_scheduled_run() {
    let mut state = with_cursor(1_000 * S);
    let start = |state: &SyncState, refresh| match on_alarm(state, 2_000 * S, refresh, &config()) {
        AlarmAction::Start(start) => (start.trigger, start.full),
        other => panic!("{other:?}"),
    };
    assert_eq!(start(&state, false), (Trigger::Alarm, false));
    assert_eq!(
        start(&state, true),
        (Trigger::Alarm, true),
        "a due refresh reads everything"
    );
    state.follow_up = Some(FollowUp { full: false });
    assert_eq!(start(&state, false), (Trigger::Webhook, false));
    state.follow_up = Some(FollowUp { full: true });
    assert_eq!(start(&state, false), (Trigger::Full, true));
}

#[test]
fn webhooks_during_a_run_coalesce_into_one_follow_up_and_full_wins() {
    let mut state = SyncState {
        active_run: Some(1),
        ..SyncState::default()
    };
    assert_eq!(
        on_webhook(&state, false, &config()),
        WebhookAction::Queue(FollowUp { full: false })
    );
    state.follow_up = Some(FollowUp { full: true });
    assert_eq!(
        on_webhook(&state, false, &config()),
        WebhookAction::Queue(FollowUp { full: true }),
        "a queued full run is not downgraded"
    );
    let idle = with_cursor(1_000 * S);
    let WebhookAction::Start(start) = on_webhook(&idle, true, &config()) else {
        panic!("an idle sync starts at once")
    };
    assert_eq!((start.trigger, start.full), (Trigger::Full, true));
}

#[test]
fn a_refresh_is_due_at_half_the_ttl_and_never_without_one() {
    let ttl = SyncConfig {
        kv_expiration_ttl_seconds: 3_600,
        ..config()
    };
    assert!(!refresh_due(Some(0), 1_799 * S, &ttl));
    assert!(refresh_due(Some(0), 1_800 * S, &ttl));
    assert!(
        !refresh_due(None, 1_800 * S, &ttl),
        "nothing written, nothing to refresh"
    );
    assert!(!refresh_due(Some(0), 1_000_000 * S, &config()));
}

#[test]
fn a_lost_alarm_is_rearmed_at_once_for_a_run_in_progress() {
    let idle = SyncState::default();
    assert_eq!(watchdog(&idle, 10 * S, &config()), 310 * S);
    let busy = SyncState {
        active_run: Some(2),
        ..idle
    };
    assert_eq!(watchdog(&busy, 10 * S, &config()), 10 * S);
}
