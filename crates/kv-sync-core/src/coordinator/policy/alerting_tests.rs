use super::*;
use crate::coordinator::policy::settle::Completion;
use crate::coordinator::policy::status::{RunStatus, Trigger};
use crate::engine::error::WarehouseError;
use crate::engine::progress::RunCounters;

const S: Micros = MICROS_PER_SECOND;
const NOW: Micros = 1_795_869_900 * S;

fn run(id: u64) -> RunRecord {
    RunRecord {
        id,
        trigger: Trigger::Alarm,
        status: RunStatus::Failed,
        started_at: NOW,
        finished_at: Some(NOW),
        invocations: 1,
        bigquery_jobs: 1,
        total_rows: None,
        counters: RunCounters::default(),
        error: None,
        error_class: None,
        warning: None,
        full: false,
        reason: None,
        kv_path: None,
        kv_path_reason: None,
        degraded: None,
        late_warning: None,
        spend: Default::default(),
    }
}

fn context() -> AlertContext<'static> {
    AlertContext {
        sync: "default",
        last_success_at: Some(NOW - 600 * S),
        now: NOW,
    }
}

fn failed(streak: u32) -> RunEnd {
    RunEnd::Failed {
        error: WarehouseError::InvalidQuery("Unrecognized name: lead_email at [3:7]".into()).into(),
        consecutive_failures: streak,
    }
}

#[test]
fn failing_is_raised_once_per_episode_and_recovered_ends_it() {
    let config = SyncConfig {
        alert_after_failures: 2,
        ..SyncConfig::default()
    };
    let flags = AlertFlags::default();
    let (alerts, flags) = after_run(flags, &failed(1), &run(1), context(), &config);
    assert!(alerts.is_empty(), "one failure is not yet an episode");
    let (alerts, flags) = after_run(flags, &failed(2), &run(2), context(), &config);
    assert_eq!(alerts.len(), 1);
    let facts = &alerts[0].kv_sync;
    assert_eq!(
        (facts.event, facts.run, facts.error.as_deref()),
        (AlertEvent::Failing, Some(2), Some("invalidQuery"))
    );
    assert_eq!(facts.staleness_seconds, Some(600.0));
    assert!(
        !alerts[0].text.contains("lead_email"),
        "no error text: it may quote data"
    );
    assert!(
        alerts[0].text.contains("2 runs in a row failed"),
        "{}",
        alerts[0].text
    );
    let (alerts, flags) = after_run(flags, &failed(3), &run(3), context(), &config);
    assert!(alerts.is_empty(), "once per episode");
    let (alerts, flags) = after_run(
        flags,
        &RunEnd::Completed(Completion::default()),
        &run(4),
        context(),
        &config,
    );
    assert_eq!(
        alerts.iter().map(|a| a.kv_sync.event).collect::<Vec<_>>(),
        vec![AlertEvent::Recovered]
    );
    assert!(!flags.failing);
    let (alerts, _) = after_run(
        flags,
        &RunEnd::Completed(Completion::default()),
        &run(5),
        context(),
        &config,
    );
    assert!(alerts.is_empty(), "recovered only once");
}

#[test]
fn stale_is_raised_once_while_kv_lags_and_a_success_ends_the_episode() {
    let config = SyncConfig::default();
    let fresh = AlertContext {
        last_success_at: Some(NOW - 1_800 * S),
        ..context()
    };
    assert_eq!(stale(AlertFlags::default(), fresh, &config).0, None);
    let lagging = AlertContext {
        last_success_at: Some(NOW - 3_600 * S),
        ..context()
    };
    let (alert, flags) = stale(AlertFlags::default(), lagging, &config);
    let alert = alert.unwrap();
    assert_eq!(alert.kv_sync.event, AlertEvent::Stale);
    assert!(alert.text.contains("60 minutes"), "{}", alert.text);
    assert_eq!(stale(flags, lagging, &config).0, None, "once per episode");
    let (_, flags) = after_run(
        flags,
        &RunEnd::Completed(Completion::default()),
        &run(9),
        context(),
        &config,
    );
    assert!(!flags.stale);
    let never = AlertContext {
        last_success_at: None,
        ..context()
    };
    assert_eq!(
        stale(AlertFlags::default(), never, &config).0,
        None,
        "a sync that never succeeded is failing, not stale"
    );
}

#[test]
fn a_full_run_that_held_deletions_back_alerts_once_until_one_does_not() {
    let config = SyncConfig::default();
    let held = RunRecord {
        full: true,
        warning: Some("300 of the 1000 keys …".into()),
        status: RunStatus::Completed,
        ..run(7)
    };
    let done = RunEnd::Completed(Completion::default());
    let (alerts, flags) = after_run(AlertFlags::default(), &done, &held, context(), &config);
    assert_eq!(alerts[0].kv_sync.event, AlertEvent::ReconcileRefused);
    let (alerts, flags) = after_run(flags, &done, &held, context(), &config);
    assert!(alerts.is_empty());
    let clean = RunRecord {
        warning: None,
        ..held.clone()
    };
    let (_, flags) = after_run(flags, &done, &clean, context(), &config);
    assert!(!flags.reconcile);
    let json =
        serde_json::to_value(&after_run(flags, &done, &held, context(), &config).0[0]).unwrap();
    assert_eq!(json["kv_sync"]["event"], "reconcile_refused");
    assert!(json["text"]
        .as_str()
        .unwrap()
        .starts_with("kv-sync (default) held back deletions"));
}

#[test]
fn a_run_of_changes_between_retries_of_a_failing_full_read_is_no_recovery() {
    let config = SyncConfig {
        alert_after_failures: 1,
        ..SyncConfig::default()
    };
    let (alerts, flags) = after_run(
        AlertFlags::default(),
        &failed(1),
        &run(1),
        context(),
        &config,
    );
    assert_eq!(alerts[0].kv_sync.event, AlertEvent::Failing);
    let between = RunEnd::Completed(Completion {
        keeps_failure_streak: true,
        ..Completion::default()
    });
    let (alerts, flags) = after_run(flags, &between, &run(2), context(), &config);
    assert!(alerts.is_empty(), "still failing: {alerts:?}");
    assert!(flags.failing);
    let done = RunEnd::Completed(Completion::default());
    let (alerts, _) = after_run(flags, &done, &run(3), context(), &config);
    assert_eq!(alerts[0].kv_sync.event, AlertEvent::Recovered);
}
