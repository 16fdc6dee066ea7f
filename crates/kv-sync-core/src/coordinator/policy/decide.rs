//! What the coordinator does when it is woken or asked: continue the run in
//! progress, wait for another invocation's lease, or start a run, and what
//! that run reads (from the cursor, or the whole source) and why.

use super::status::Trigger;
use super::sync_state::SyncState;
use crate::engine::limits::CLOCK_SKEW;
use crate::engine::progress::{LateWindow, RunMode, RunProgress};
use crate::engine::source_query::query_digest;
use crate::engine::time::{Micros, BEGINNING_OF_TIME, MICROS_PER_SECOND};
use crate::settings::SyncConfig;

/// A run to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunStart {
    pub trigger: Trigger,
    /// The window's lower bound: the run reads `updated_at >= since`.
    pub since: Micros,
    pub mode: RunMode,
    /// Why the run reads the whole source, in words.
    pub reason: Option<String>,
    /// The run is the queued follow-up: recording its start empties the
    /// queue in the same transaction, so the ask is never lost.
    pub follow_up: bool,
    /// The failed full read this run takes up from its checkpoint.
    pub resume: Option<Box<RunProgress>>,
    /// For a scheduled or asked-for full run: what incremental runs read
    /// when it began, to count the rows that arrived too late for them.
    pub late: Option<LateWindow>,
}

/// What an alarm does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlarmAction {
    /// Nothing is due yet (an alarm set early, e.g. by the watchdog): sleep
    /// until the scheduled run.
    Sleep {
        until: Micros,
    },
    /// Another invocation works on the run; look again when its lease would
    /// lapse, in case it died.
    WaitForLease {
        until: Micros,
    },
    /// Work on the run in progress.
    Continue {
        run_id: u64,
    },
    Start(RunStart),
}

/// What `POST /sync-kv-now` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookAction {
    /// A run is in progress: one follow-up starts right after it.
    Queue(RunMode),
    Start(RunStart),
}

fn seconds(s: u64) -> Micros {
    Micros::try_from(s).unwrap_or(Micros::MAX / 4) * MICROS_PER_SECOND
}

/// Why the next run must read the whole source, if it must: the first sync,
/// a changed query or result, the schedule of full runs, or a KV TTL whose
/// values need refreshing.
pub fn full_read_due(state: &SyncState, now: Micros, config: &SyncConfig) -> Option<String> {
    let Some(last) = state.last_full_read_at else {
        return Some(
            "first full read: every key is read, and keys no longer in the source are deleted"
                .into(),
        );
    };
    if state
        .query_digest
        .as_ref()
        .is_some_and(|d| *d != query_digest(&config.query))
    {
        return Some("SYNC_QUERY changed: rows it now selects may be older than the cursor".into());
    }
    if let Some(reason) = &state.full_read_reason {
        return Some(reason.clone());
    }
    let every = config.full_sync_interval_seconds;
    if every > 0 && now - last >= seconds(every) {
        return Some(format!(
            "scheduled full read (FULL_SYNC_INTERVAL_SECONDS = {every})"
        ));
    }
    let ttl = config.kv_expiration_ttl_seconds;
    if ttl > 0 && now - last >= seconds(ttl) / 2 {
        return Some(format!(
            "KV values expire after {ttl} s: a full read every half of that rewrites the older ones"
        ));
    }
    None
}

/// A full read that keeps failing never blocks incremental runs: after each
/// failed attempt, one run reads only the changes (it needs a cursor), and
/// the full read is retried after it.
fn between_full_retries(state: &SyncState) -> bool {
    state.last_run_failed_full && state.cursor.is_some()
}

/// The start of a run: from the cursor minus the lookback, or from the
/// beginning when the run reads the whole source. A cursor a future-stamped
/// row carried ahead of the clock counts as the present.
pub fn start_run(
    state: &SyncState,
    trigger: Trigger,
    request: RunMode,
    now: Micros,
    config: &SyncConfig,
) -> RunStart {
    let asked = request.full || request.rewrite;
    let reason = if asked {
        Some(if request.rewrite {
            "asked for: a full read that rewrites every value".to_string()
        } else {
            "asked for: a full read".to_string()
        })
    } else {
        full_read_due(state, now, config).filter(|_| !between_full_retries(state))
    };
    let full = reason.is_some();
    // A failed read of the same kind and query is taken up where it stopped.
    let resume = state
        .suspended_read
        .as_ref()
        .filter(|s| s.progress.mode.full == full && s.query_digest == query_digest(&config.query))
        .filter(|s| s.progress.mode.rewrite || state.rewrite_from_run.is_none())
        .map(|s| Box::new(s.progress.clone()));
    let reason = match (&resume, reason) {
        (Some(p), Some(r)) => Some(format!(
            "{r}; resumes the full read of run {} from its checkpoint",
            p.marks_from()
        )),
        (Some(p), None) => Some(format!(
            "resumes the read of run {} from its checkpoint",
            p.marks_from()
        )),
        (None, None) if between_full_retries(state) => Some(
            "changes only, between retries of the failing full read (it is retried next)".into(),
        ),
        (None, reason) => reason,
    };
    let since = match (&state.cursor, full) {
        _ if resume.is_some() => resume.as_ref().map_or(BEGINNING_OF_TIME, |p| p.since),
        (Some(c), false) => c.updated_at.min(now + CLOCK_SKEW) - seconds(config.lookback_seconds),
        _ => BEGINNING_OF_TIME,
    };
    RunStart {
        trigger: if asked { Trigger::Full } else { trigger },
        since,
        mode: RunMode {
            full,
            rewrite: request.rewrite || (full && state.rewrite_from_run.is_some()),
            allow_mass_delete: request.allow_mass_delete,
        },
        reason,
        follow_up: false,
        resume,
        late: late_window(state, full, now, config),
    }
}

/// The incremental window a full run's late rows are counted against: for
/// a scheduled or asked-for full read only (the first read, and one that a
/// changed query or result asks for, read rows no incremental run was meant
/// to).
fn late_window(
    state: &SyncState,
    full: bool,
    now: Micros,
    config: &SyncConfig,
) -> Option<LateWindow> {
    let query_changed = state
        .query_digest
        .as_ref()
        .is_some_and(|d| *d != query_digest(&config.query));
    if !full
        || state.last_full_read_at.is_none()
        || query_changed
        || state.full_read_reason.is_some()
    {
        return None;
    }
    let cursor = state.cursor.as_ref()?.updated_at.min(now + CLOCK_SKEW);
    Some(LateWindow {
        since: cursor - seconds(config.lookback_seconds),
        cursor,
    })
}

/// What an alarm at `now` does.
pub fn on_alarm(state: &SyncState, now: Micros, config: &SyncConfig) -> AlarmAction {
    if let Some(run_id) = state.active_run {
        return match state.lease.filter(|l| l.is_live(now)) {
            Some(lease) => AlarmAction::WaitForLease {
                until: lease.expires_at,
            },
            None => AlarmAction::Continue { run_id },
        };
    }
    let (trigger, request) = match state.follow_up {
        Some(request) => (Trigger::Webhook, request),
        None => match state.next_sync_at.filter(|at| now < *at) {
            Some(until) => return AlarmAction::Sleep { until },
            None => (Trigger::Alarm, RunMode::default()),
        },
    };
    AlarmAction::Start(RunStart {
        follow_up: state.follow_up.is_some(),
        ..start_run(state, trigger, request, now, config)
    })
}

/// What a webhook asking for `request` does.
pub fn on_webhook(
    state: &SyncState,
    request: RunMode,
    now: Micros,
    config: &SyncConfig,
) -> WebhookAction {
    if state.active_run.is_some() {
        let queued = state.follow_up.unwrap_or_default();
        return WebhookAction::Queue(queued.merge(request));
    }
    WebhookAction::Start(start_run(state, Trigger::Webhook, request, now, config))
}

/// When an alarm must fire if none is set (a lost alarm, a fresh object):
/// at once for a run in progress (it was interrupted), else one interval out.
pub fn watchdog(state: &SyncState, now: Micros, config: &SyncConfig) -> Micros {
    if state.active_run.is_some() {
        now
    } else {
        state
            .next_sync_at
            .unwrap_or(now + seconds(config.interval_seconds))
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
