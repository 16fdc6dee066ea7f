use super::*;
use crate::coordinator::policy::lease::RunLease;
use crate::engine::cursor::Cursor;

const S: Micros = MICROS_PER_SECOND;
const NOW: Micros = 2_000 * S;

fn config() -> SyncConfig {
    SyncConfig::default()
}

/// A sync with a cursor whose last full read was a minute ago.
fn synced(cursor_at: Micros) -> SyncState {
    SyncState {
        cursor: Some(Cursor::new(cursor_at, "k")),
        last_full_read_at: Some(NOW - 60 * S),
        ..SyncState::default()
    }
}

fn incremental() -> RunMode {
    RunMode::default()
}

#[test]
fn a_run_reads_from_the_cursor_minus_the_lookback_or_from_the_beginning() {
    let state = synced(1_000 * S);
    let start = start_run(&state, Trigger::Alarm, incremental(), NOW, &config());
    assert_eq!(
        (start.since, start.mode.full, start.reason),
        (400 * S, false, None)
    );
    let asked = RunMode {
        full: true,
        ..incremental()
    };
    let full = start_run(&state, Trigger::Webhook, asked, NOW, &config());
    assert_eq!(
        (full.since, full.mode.full, full.trigger),
        (BEGINNING_OF_TIME, true, Trigger::Full)
    );
    assert!(full.reason.unwrap().contains("asked for"));
    let first = start_run(
        &SyncState::default(),
        Trigger::Webhook,
        incremental(),
        NOW,
        &config(),
    );
    assert_eq!(
        first.since, BEGINNING_OF_TIME,
        "the first run reads everything"
    );
    assert!(first.mode.full, "and reconciles");
    assert_eq!(first.trigger, Trigger::Webhook);
}

#[test]
fn a_cursor_carried_into_the_future_counts_as_the_present() {
    let year_2099 = 4_070_908_800 * S;
    let start = start_run(
        &synced(year_2099),
        Trigger::Alarm,
        incremental(),
        NOW,
        &config(),
    );
    assert_eq!(start.since, NOW + CLOCK_SKEW - 600 * S);
}

#[test]
fn a_rewrite_is_a_full_read_that_rewrites() {
    let asked = RunMode {
        rewrite: true,
        ..incremental()
    };
    let start = start_run(&synced(NOW), Trigger::Webhook, asked, NOW, &config());
    assert!(start.mode.full && start.mode.rewrite);
    assert!(start.reason.unwrap().contains("rewrites"));
}

#[test]
fn full_reads_come_on_schedule_and_every_half_ttl() {
    let mut state = synced(NOW);
    state.last_full_read_at = Some(NOW - 86_400 * S);
    let due = full_read_due(&state, NOW, &config()).unwrap();
    assert!(due.contains("FULL_SYNC_INTERVAL_SECONDS = 86400"), "{due}");
    let never = SyncConfig {
        full_sync_interval_seconds: 0,
        ..config()
    };
    assert_eq!(full_read_due(&state, NOW, &never), None);
    let ttl = SyncConfig {
        kv_expiration_ttl_seconds: 600,
        ..never
    };
    state.last_full_read_at = Some(NOW - 299 * S);
    assert_eq!(full_read_due(&state, NOW, &ttl), None);
    state.last_full_read_at = Some(NOW - 300 * S);
    assert!(full_read_due(&state, NOW, &ttl).unwrap().contains("600 s"));
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
        on_alarm(&state, 99 * S, &config()),
        AlarmAction::WaitForLease { until: 100 * S }
    );
    assert_eq!(
        on_alarm(&state, 100 * S, &config()),
        AlarmAction::Continue { run_id: 7 }
    );
}

#[test]
fn an_alarm_starts_the_queued_follow_up_else_a_scheduled_run() {
    let mut state = synced(1_000 * S);
    let start = |state: &SyncState| match on_alarm(state, NOW, &config()) {
        AlarmAction::Start(start) => (start.trigger, start.mode.full),
        other => panic!("{other:?}"),
    };
    assert_eq!(start(&state), (Trigger::Alarm, false));
    state.last_full_read_at = Some(NOW - 86_400 * S);
    assert_eq!(start(&state), (Trigger::Alarm, true), "a due full read");
    state.last_full_read_at = Some(NOW);
    state.follow_up = Some(incremental());
    assert_eq!(start(&state), (Trigger::Webhook, false));
    state.follow_up = Some(RunMode {
        full: true,
        ..incremental()
    });
    assert_eq!(start(&state), (Trigger::Full, true));
}

#[test]
fn webhooks_during_a_run_coalesce_into_one_follow_up_keeping_every_flag() {
    let mut state = SyncState {
        active_run: Some(1),
        ..synced(NOW)
    };
    assert_eq!(
        on_webhook(&state, incremental(), NOW, &config()),
        WebhookAction::Queue(incremental())
    );
    state.follow_up = Some(RunMode {
        full: true,
        ..incremental()
    });
    let rewrite = RunMode {
        rewrite: true,
        ..incremental()
    };
    assert_eq!(
        on_webhook(&state, rewrite, NOW, &config()),
        WebhookAction::Queue(RunMode {
            full: true,
            rewrite: true,
            allow_mass_delete: false
        }),
        "a queued full run is not downgraded"
    );
    let idle = synced(NOW);
    let WebhookAction::Start(start) = on_webhook(&idle, incremental(), NOW, &config()) else {
        panic!("an idle sync starts at once")
    };
    assert_eq!((start.trigger, start.mode.full), (Trigger::Webhook, false));
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
