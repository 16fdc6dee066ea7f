//! What the coordinator does when it is woken or asked: continue the run in
//! progress, wait for another invocation's lease, or start a run, and from
//! where that run reads.

use super::state::{FollowUp, SyncState};
use crate::coordination::status::Trigger;
use crate::engine::config::SyncConfig;
use crate::engine::time::{Micros, BEGINNING_OF_TIME, MICROS_PER_SECOND};

/// A run to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunStart {
    pub trigger: Trigger,
    /// The window's lower bound: the run reads `updated_at >= since`.
    pub since: Micros,
    /// The run reads the whole source, whatever the cursor says.
    pub full: bool,
}

/// What an alarm does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlarmAction {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookAction {
    /// A run is in progress: one follow-up starts right after it.
    Queue(FollowUp),
    Start(RunStart),
}

fn seconds(s: u64) -> Micros {
    Micros::try_from(s).unwrap_or(Micros::MAX / 4) * MICROS_PER_SECOND
}

/// The start of a run: from the cursor minus the lookback, or from the
/// beginning for a full run or the very first one.
pub fn start_run(state: &SyncState, trigger: Trigger, full: bool, config: &SyncConfig) -> RunStart {
    let since = match (&state.cursor, full) {
        (Some(c), false) => c.updated_at - seconds(config.lookback_seconds),
        _ => BEGINNING_OF_TIME,
    };
    RunStart {
        trigger,
        since,
        full,
    }
}

/// Whether values written with a KV TTL are due for a refresh, which needs
/// a full read (incremental runs do not see unchanged rows). `oldest_write`
/// is when the oldest value kv-sync holds was written.
pub fn refresh_due(oldest_write: Option<Micros>, now: Micros, config: &SyncConfig) -> bool {
    if config.kv_expiration_ttl_seconds == 0 {
        return false;
    }
    let half_ttl = seconds(config.kv_expiration_ttl_seconds) / 2;
    oldest_write.is_some_and(|oldest| now - oldest >= half_ttl)
}

/// What an alarm at `now` does.
pub fn on_alarm(
    state: &SyncState,
    now: Micros,
    refresh_due: bool,
    config: &SyncConfig,
) -> AlarmAction {
    if let Some(run_id) = state.active_run {
        return match state.lease.filter(|l| l.is_live(now)) {
            Some(lease) => AlarmAction::WaitForLease {
                until: lease.expires_at,
            },
            None => AlarmAction::Continue { run_id },
        };
    }
    let (trigger, full) = match state.follow_up {
        Some(FollowUp { full: true }) => (Trigger::Full, true),
        Some(FollowUp { full: false }) => (Trigger::Webhook, false),
        None => (Trigger::Alarm, refresh_due),
    };
    AlarmAction::Start(start_run(state, trigger, full, config))
}

/// What a webhook asking for a run (`full` or not) does.
pub fn on_webhook(state: &SyncState, full: bool, config: &SyncConfig) -> WebhookAction {
    if state.active_run.is_some() {
        let full = full || state.follow_up.is_some_and(|f| f.full);
        return WebhookAction::Queue(FollowUp { full });
    }
    let trigger = if full {
        Trigger::Full
    } else {
        Trigger::Webhook
    };
    WebhookAction::Start(start_run(state, trigger, full, config))
}

/// When an alarm must fire if none is set (a lost alarm, a fresh object):
/// at once for a run in progress (it was interrupted), else one interval out.
pub fn watchdog(state: &SyncState, now: Micros, config: &SyncConfig) -> Micros {
    if state.active_run.is_some() {
        now
    } else {
        now + seconds(config.interval_seconds)
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
