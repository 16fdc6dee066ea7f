//! The Status object of `GET /status` and the Run record, exactly as the
//! spec names their fields: dashboards and scripts outside this repository
//! read them.

use serde::{Deserialize, Serialize};

use super::sync_state::SyncState;

use super::cost::{CostView, RunCost};
use crate::engine::kv_path::KvPath;
use crate::engine::progress::RunCounters;
use crate::engine::spend::RunSpend;
use crate::engine::time::{to_rfc3339, Micros, MICROS_PER_SECOND};
use crate::push::verdict::PushCounters;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Alarm,
    Webhook,
    Full,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Completed,
    Failed,
}

/// A run as `/status` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunView {
    pub id: u64,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub invocations: u32,
    pub bigquery_jobs: u32,
    pub total_rows: Option<u64>,
    pub rows_read: u64,
    pub rows_written: u64,
    pub rows_deleted: u64,
    pub rows_unchanged: u64,
    pub rows_failed: u64,
    /// Keys deleted because they left the source.
    pub rows_orphaned: u64,
    /// Rows this full run wrote that arrived too late for any incremental
    /// run (stamped before the cursor minus SYNC_LOOKBACK_SECONDS).
    pub rows_late: u64,
    pub error: Option<String>,
    /// The error's class (`invalidQuery`, `kvRejected`, …): what to act on.
    pub error_class: Option<String>,
    /// What the run held back and why (e.g. a mass delete it refused).
    pub warning: Option<String>,
    /// Whether the run read the whole source, and why.
    pub full: bool,
    pub reason: Option<String>,
    /// Which way the run wrote to KV (`binding` or `bulk`), and why.
    pub kv_path: Option<KvPath>,
    pub kv_path_reason: Option<String>,
    /// Seconds from start to finish (or to now, while running).
    pub duration_seconds: f64,
    /// What the run was billed by, so far.
    pub cost: RunCost,
}

/// The stored facts of a run, from which its view is made.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: u64,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub started_at: Micros,
    pub finished_at: Option<Micros>,
    pub invocations: u32,
    pub bigquery_jobs: u32,
    pub total_rows: Option<u64>,
    pub counters: RunCounters,
    pub error: Option<String>,
    /// The error's class (`RunError::class`), for alerts and the dashboard.
    pub error_class: Option<String>,
    pub warning: Option<String>,
    pub full: bool,
    pub reason: Option<String>,
    pub kv_path: Option<KvPath>,
    pub kv_path_reason: Option<String>,
    /// Why the run wrote through the binding though it chose the bulk API.
    pub degraded: Option<String>,
    /// What the run's late rows say about the lookback.
    pub late_warning: Option<String>,
    /// What it spent beyond its counters.
    pub spend: RunSpend,
}

impl RunRecord {
    /// What the run held back, could not do as configured, or found late,
    /// in words.
    fn warning(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.warning, &self.degraded, &self.late_warning]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(". Also: "))
    }

    pub fn view(&self, now: Micros) -> RunView {
        let end = self.finished_at.unwrap_or(now);
        RunView {
            id: self.id,
            trigger: self.trigger,
            status: self.status,
            started_at: to_rfc3339(self.started_at),
            finished_at: self.finished_at.map(to_rfc3339),
            invocations: self.invocations,
            bigquery_jobs: self.bigquery_jobs,
            total_rows: self.total_rows,
            rows_read: self.counters.rows_read,
            rows_written: self.counters.rows_written,
            rows_deleted: self.counters.rows_deleted,
            rows_unchanged: self.counters.rows_unchanged,
            rows_failed: self.counters.rows_failed,
            rows_orphaned: self.counters.rows_orphaned,
            rows_late: self.counters.rows_late,
            error: self.error.clone(),
            error_class: self.error_class.clone(),
            warning: self.warning(),
            full: self.full,
            reason: self.reason.clone(),
            kv_path: self.kv_path,
            kv_path_reason: self.kv_path_reason.clone(),
            duration_seconds: (end - self.started_at).max(0) as f64 / MICROS_PER_SECOND as f64,
            cost: RunCost::of(&self.spend, &self.counters),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CursorView {
    pub updated_at: Option<String>,
    pub key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailedRowView {
    pub key: Option<String>,
    pub reason: String,
    pub at: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailedRows {
    pub count: u64,
    pub recent: Vec<FailedRowView>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub runs: u64,
    pub rows_written: u64,
    pub rows_deleted: u64,
    pub rows_unchanged: u64,
    pub rows_failed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Idle,
    Running,
    Failing,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Status {
    /// The sync this is the status of.
    pub sync: String,
    pub state: State,
    pub cursor: CursorView,
    pub lag_seconds: Option<f64>,
    pub interval_seconds: u64,
    pub next_alarm_at: Option<String>,
    pub queued: bool,
    pub current_run: Option<RunView>,
    pub last_run: Option<RunView>,
    pub recent_runs: Vec<RunView>,
    pub failed_rows: FailedRows,
    pub totals: Totals,
    /// Consecutive failed runs since the last success.
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub now: String,
    /// When the last completed run's query began: KV holds at least what
    /// BigQuery held then.
    pub last_success_at: Option<String>,
    /// Now minus `last_success_at`.
    pub staleness_seconds: Option<f64>,
    /// The next scheduled run (the watchdog alarm of a run in progress is
    /// `next_alarm_at`).
    pub next_sync_at: Option<String>,
    /// Why the next run will read the whole source, if it will.
    pub next_run_full_reason: Option<String>,
    pub alerts: AlertsView,
    /// The sync's settings cannot be used (every run fails with this).
    pub config_error: Option<String>,
    /// The size of the coordinator's SQLite database (the hash of every
    /// key it wrote, the runs, the failed rows): Durable Object storage is
    /// billed and limited by it.
    pub storage_bytes: u64,
    /// What `POST /push` did with the rows delivered to it.
    pub push: PushCounters,
    /// What the last 24 hours of runs cost, and a day at list prices.
    pub cost: CostView,
}

/// Whether alerts are configured, and which episodes are alerted.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AlertsView {
    pub configured: bool,
    pub after_failures: u32,
    pub staleness_seconds: u64,
    /// Alerts raised but not yet delivered (retried on later alarms).
    pub pending: u64,
    pub failing: bool,
    pub stale: bool,
    pub reconcile_refused: bool,
    /// The KV bulk API refuses requests as a whole; runs use the binding.
    pub degraded: bool,
}

/// What `/status` is built from: the sync's state and records as stored,
/// the alarm, and the time.
pub struct StatusFacts<'a> {
    pub sync: &'a str,
    pub config_error: Option<String>,
    pub state: &'a SyncState,
    /// Newest first.
    pub recent_runs: &'a [RunRecord],
    pub current_run: Option<&'a RunRecord>,
    pub failed_recent: Vec<FailedRowView>,
    /// Why the next run will read the whole source (`decide::full_read_due`).
    pub next_run_full_reason: Option<String>,
    pub alerts: AlertsView,
    pub next_alarm_at: Option<Micros>,
    pub interval_seconds: u64,
    pub storage_bytes: u64,
    pub push: PushCounters,
    pub cost: CostView,
    pub now: Micros,
}

/// The Status object.
pub fn status(facts: StatusFacts<'_>) -> Status {
    let StatusFacts { state, now, .. } = facts;
    let runs = facts.recent_runs;
    let failing = state.consecutive_failures > 0;
    let cursor = state.cursor.as_ref();
    Status {
        sync: facts.sync.to_string(),
        config_error: facts.config_error,
        storage_bytes: facts.storage_bytes,
        push: facts.push,
        cost: facts.cost,
        state: match (facts.current_run, failing) {
            (Some(_), _) => State::Running,
            (None, true) => State::Failing,
            (None, false) => State::Idle,
        },
        lag_seconds: cursor
            .map(|c| ((now - c.updated_at) as f64 / MICROS_PER_SECOND as f64).max(0.0)),
        cursor: CursorView {
            updated_at: cursor.map(|c| to_rfc3339(c.updated_at)),
            key: cursor.map(|c| c.key.clone()),
        },
        interval_seconds: facts.interval_seconds,
        next_alarm_at: facts.next_alarm_at.map(to_rfc3339),
        queued: state.follow_up.is_some(),
        current_run: facts.current_run.map(|r| r.view(now)),
        last_error: runs
            .iter()
            .find(|r| r.status == RunStatus::Failed)
            .filter(|_| failing)
            .and_then(|r| r.error.clone()),
        last_run: runs
            .iter()
            .find(|r| r.status != RunStatus::Running)
            .map(|r| r.view(now)),
        recent_runs: runs.iter().map(|r| r.view(now)).collect(),
        failed_rows: FailedRows {
            count: state.failed_listed + state.failed_pruned,
            recent: facts.failed_recent,
        },
        totals: state.totals.clone(),
        consecutive_failures: state.consecutive_failures,
        now: to_rfc3339(now),
        last_success_at: state.last_success_at.map(to_rfc3339),
        staleness_seconds: state
            .last_success_at
            .map(|at| ((now - at) as f64 / MICROS_PER_SECOND as f64).max(0.0)),
        next_sync_at: state.next_sync_at.map(to_rfc3339),
        // A full read in progress settles its own reason: the run after it
        // reads only changes.
        next_run_full_reason: facts
            .next_run_full_reason
            .filter(|_| !facts.current_run.is_some_and(|r| r.full)),
        alerts: alerted(state, facts.alerts),
    }
}

/// The alert settings, with the episodes alerted now.
fn alerted(state: &SyncState, configured: AlertsView) -> AlertsView {
    AlertsView {
        failing: state.alerted.failing,
        stale: state.alerted.stale,
        reconcile_refused: state.alerted.reconcile,
        degraded: state.alerted.degraded,
        ..configured
    }
}

/// One line of `GET /syncs`: a sync at a glance, from its Status.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SyncSummary {
    pub name: String,
    pub state: Option<String>,
    pub last_success_at: Option<String>,
    pub staleness_seconds: Option<f64>,
    pub lag_seconds: Option<f64>,
    pub next_sync_at: Option<String>,
    pub last_run: Option<serde_json::Value>,
    /// The sync's configuration error, or why its status could not be read.
    pub error: Option<String>,
}

impl SyncSummary {
    /// The summary of sync `name` from its `/status` answer (`Err`: the
    /// coordinator could not be asked).
    pub fn of(name: &str, status: Result<serde_json::Value, String>) -> Self {
        let status = match status {
            Ok(status) => status,
            Err(error) => {
                return SyncSummary {
                    name: name.to_string(),
                    state: None,
                    last_success_at: None,
                    staleness_seconds: None,
                    lag_seconds: None,
                    next_sync_at: None,
                    last_run: None,
                    error: Some(error),
                }
            }
        };
        let text = |field: &str| {
            status
                .get(field)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
        };
        let number = |field: &str| status.get(field).and_then(serde_json::Value::as_f64);
        SyncSummary {
            name: name.to_string(),
            state: text("state"),
            last_success_at: text("last_success_at"),
            staleness_seconds: number("staleness_seconds"),
            lag_seconds: number("lag_seconds"),
            next_sync_at: text("next_sync_at"),
            last_run: status.get("last_run").filter(|r| !r.is_null()).cloned(),
            error: text("config_error").or_else(|| text("error")),
        }
    }
}
