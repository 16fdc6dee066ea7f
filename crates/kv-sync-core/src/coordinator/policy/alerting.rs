//! Alerts: what to tell a person, and when. Once per episode: a sync that
//! keeps failing raises `failing` once (after `ALERT_AFTER_FAILURES` runs in
//! a row) and `recovered` once when a run completes again; `stale` once
//! while KV lags BigQuery by more than `ALERT_STALENESS_SECONDS`;
//! `reconcile_refused` once while full runs hold deletions back; `degraded`
//! once while the KV bulk API refuses requests as a whole (runs go through
//! the binding), and `recovered` when a run writes through it again.
//!
//! A message names the sync, the run and the error's class, never an error's
//! text (it may quote data), a secret or a row value. The JSON is Slack's
//! incoming-webhook shape (`text`) with the facts beside it for machines.

use serde::Serialize;

use super::settle::{Completion, RunEnd};
use super::status::RunRecord;
use super::sync_state::AlertFlags;
use crate::engine::kv_path::KvPath;
use crate::engine::time::{to_rfc3339, Micros, MICROS_PER_SECOND};
use crate::settings::SyncConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AlertEvent {
    Failing,
    Recovered,
    Stale,
    ReconcileRefused,
    Degraded,
}

/// The machine-readable part of an alert.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct AlertFacts {
    pub event: AlertEvent,
    pub sync: String,
    pub run: Option<u64>,
    /// The error's class (`invalidQuery`, `kvUnavailable`, …), never its text.
    pub error: Option<String>,
    pub staleness_seconds: Option<f64>,
}

/// One alert, as posted to `ALERT_WEBHOOK_URL`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Alert {
    pub text: String,
    pub kv_sync: AlertFacts,
}

/// "10:05 UTC on 2026-11-29".
fn when(at: Micros) -> String {
    let text = to_rfc3339(at);
    format!("{} UTC on {}", &text[11..16], &text[..10])
}

fn staleness(last_success_at: Option<Micros>, now: Micros) -> Option<f64> {
    last_success_at.map(|at| ((now - at) as f64 / MICROS_PER_SECOND as f64).max(0.0))
}

/// Where an alert is raised: the sync, its freshness, the time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AlertContext<'a> {
    pub sync: &'a str,
    /// As it stands after the run, if any.
    pub last_success_at: Option<Micros>,
    pub now: Micros,
}

impl AlertContext<'_> {
    fn alert(&self, event: AlertEvent, run: Option<u64>, text: String) -> Alert {
        Alert {
            text,
            kv_sync: AlertFacts {
                event,
                sync: self.sync.to_string(),
                run,
                error: None,
                staleness_seconds: staleness(self.last_success_at, self.now),
            },
        }
    }
}

/// The alerts an invocation that ended with `end` raises, and the flags
/// after it.
pub(crate) fn after_run(
    flags: AlertFlags,
    end: &RunEnd,
    run: &RunRecord,
    context: AlertContext<'_>,
    config: &SyncConfig,
) -> (Vec<Alert>, AlertFlags) {
    let AlertContext {
        sync,
        last_success_at,
        ..
    } = context;
    let mut flags = flags;
    let mut alerts = Vec::new();
    match end {
        RunEnd::Failed {
            error,
            consecutive_failures,
        } if *consecutive_failures >= config.alert_after_failures && !flags.failing => {
            flags.failing = true;
            let class = error.class().to_string();
            let since = last_success_at.map_or("KV has not been synced yet".into(), |at| {
                format!("KV still holds what BigQuery held at {}", when(at))
            });
            let mut failing = context.alert(
                AlertEvent::Failing,
                Some(run.id),
                format!("kv-sync ({sync}) is failing: {consecutive_failures} runs in a row failed, the last with {class}. {since}; /status has the details."),
            );
            failing.kv_sync.error = Some(class);
            alerts.push(failing);
        }
        RunEnd::Completed(completion) => {
            alerts.extend(after_completed(&mut flags, completion, run, &context));
        }
        _ => {}
    }
    if let Some(alert) = degraded(&mut flags, end, run, &context) {
        alerts.push(alert);
    }
    (alerts, flags)
}

/// What a completed run ends or begins: `recovered` from failing (unless
/// it only read changes between retries of a failing full read), and
/// `reconcile_refused` while full runs hold deletions back.
fn after_completed(
    flags: &mut AlertFlags,
    completion: &Completion,
    run: &RunRecord,
    context: &AlertContext<'_>,
) -> Vec<Alert> {
    let sync = context.sync;
    let mut alerts = Vec::new();
    if flags.failing && !completion.keeps_failure_streak {
        flags.failing = false;
        let text = format!(
            "kv-sync ({sync}) recovered: run {} completed; KV matches BigQuery as of {}.",
            run.id,
            context.last_success_at.map_or("now".into(), when)
        );
        alerts.push(context.alert(AlertEvent::Recovered, Some(run.id), text));
    }
    flags.stale = false;
    let refused = run.full && run.warning.is_some();
    if refused && !flags.reconcile {
        let text = format!(
            "kv-sync ({sync}) held back deletions: full run {} deleted nothing from KV; its warning in /status says why and how to go on.",
            run.id
        );
        alerts.push(context.alert(AlertEvent::ReconcileRefused, Some(run.id), text));
    }
    if run.full {
        flags.reconcile = refused;
    }
    alerts
}

/// The `degraded` episode: from the first run the bulk API refused as a
/// whole, to the first completed run that wrote through it again.
fn degraded(
    flags: &mut AlertFlags,
    end: &RunEnd,
    run: &RunRecord,
    context: &AlertContext<'_>,
) -> Option<Alert> {
    let sync = context.sync;
    match (&run.degraded, end) {
        (Some(_), _) if !flags.degraded => {
            flags.degraded = true;
            Some(context.alert(
                AlertEvent::Degraded,
                Some(run.id),
                format!("kv-sync ({sync}) is degraded: the KV bulk API refused a request as a whole in run {}, so runs write through the binding (slower for large runs). Check CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID and the namespace id; the run's warning in /status quotes the API.", run.id),
            ))
        }
        (None, RunEnd::Completed(_)) if flags.degraded && run.kv_path == Some(KvPath::Bulk) => {
            flags.degraded = false;
            Some(context.alert(
                AlertEvent::Recovered,
                Some(run.id),
                format!(
                    "kv-sync ({sync}) recovered: run {} wrote through the KV bulk API again.",
                    run.id
                ),
            ))
        }
        _ => None,
    }
}

/// A `stale` alert when KV has lagged BigQuery for too long (checked on
/// every alarm, running or not), and the flags after it.
pub(crate) fn stale(
    flags: AlertFlags,
    context: AlertContext<'_>,
    config: &SyncConfig,
) -> (Option<Alert>, AlertFlags) {
    let AlertContext {
        sync,
        last_success_at,
        now,
    } = context;
    let Some(lag) = staleness(last_success_at, now) else {
        return (None, flags);
    };
    if flags.stale || lag <= config.alert_staleness_seconds as f64 {
        return (None, flags);
    }
    let minutes = (lag / 60.0).round();
    let at = last_success_at.map(when).unwrap_or_default();
    let stale = context.alert(
        AlertEvent::Stale,
        None,
        format!("kv-sync ({sync}) is stale: KV has not caught up with BigQuery for {minutes} minutes; it matches BigQuery as of {at}."),
    );
    (
        Some(stale),
        AlertFlags {
            stale: true,
            ..flags
        },
    )
}

#[cfg(test)]
#[path = "alerting_tests.rs"]
mod tests;
