//! How an invocation settles: what becomes of the run and when the
//! coordinator wakes next.
//!
//! Every path leaves an alarm armed: at once when a run continues or a
//! follow-up waits, after a backoff when a run failed (10 s doubling, capped
//! at the interval), and one interval after a run completed. The interval
//! counts from the end of a run, so a slow run never stacks up behind itself.

use super::sync_state::{SuspendedRead, SyncState};
use crate::coordinator::policy::schedule::{backoff, interval};
use crate::engine::error::{RunError, StoreError};
use crate::engine::progress::RunProgress;
use crate::engine::run::{Outcome, Pause};
use crate::engine::time::Micros;
use crate::settings::SyncConfig;

/// What becomes of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    Completed(Completion),
    /// The run goes on in the next invocation.
    Paused(Pause),
    /// The run ends failed; the streak of failures includes it.
    Failed {
        error: RunError,
        consecutive_failures: u32,
    },
    /// Another invocation took the lease: this one stops without storing
    /// anything more (its holder arms the alarm).
    LeaseLost,
}

/// What a completed run teaches the coordinator about its source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completion {
    /// When the run's query began (KV holds at least what the source held
    /// then), if it ran one.
    pub success_at: Option<Micros>,
    /// The digest of the result's columns the run saw.
    pub schema_digest: Option<String>,
    /// After a full read: the digest of the query it read with.
    pub query_digest: Option<String>,
    /// Why the next run must read the whole source (the result's columns
    /// changed), or `None` when nothing asks for it (any earlier reason is
    /// settled by a full read).
    pub full_read_reason: Option<String>,
    /// The run read only changes between retries of a failing full read:
    /// the failure streak goes on (the sync has not recovered).
    pub keeps_failure_streak: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub end: RunEnd,
    pub wake_at: Option<Micros>,
    /// A failed full read kept for the next full run to resume.
    pub suspend: Option<SuspendedRead>,
}

/// Settles an invocation of the run at `progress` that ended with
/// `outcome`. `state` is the sync's state as stored now (a webhook may have
/// queued a follow-up meanwhile).
pub fn settle(
    outcome: &Outcome,
    progress: &RunProgress,
    state: &SyncState,
    now: Micros,
    config: &SyncConfig,
) -> Settlement {
    match outcome {
        Outcome::Completed => Settlement {
            end: RunEnd::Completed(completion(progress, state)),
            wake_at: Some(if state.follow_up.is_some() {
                now
            } else {
                now + interval(config)
            }),
            suspend: None,
        },
        Outcome::Paused(pause) => Settlement {
            end: RunEnd::Paused(*pause),
            wake_at: Some(now),
            suspend: None,
        },
        Outcome::Failed(RunError::Store(StoreError::LeaseLost { .. })) => Settlement {
            end: RunEnd::LeaseLost,
            wake_at: None,
            suspend: None,
        },
        Outcome::Failed(e) => Settlement {
            suspend: suspend(progress, state),
            ..fail(e.clone(), state, now, config)
        },
    }
}

/// What the completed run at `progress` says about the source: a change of
/// the result's columns since the last run asks for a full read (values of
/// unchanged rows still have the old shape); a full read settles that, and
/// records the query it read with.
fn completion(progress: &RunProgress, state: &SyncState) -> Completion {
    let columns_changed = matches!(
        (&state.schema_digest, &progress.schema),
        (Some(before), Some(now)) if before != now
    );
    let settles_rewrite = state
        .rewrite_from_run
        .is_none_or(|from| progress.run_id >= from && progress.mode.rewrite);
    let full_read_reason = if progress.mode.full && settles_rewrite {
        None
    } else if columns_changed {
        Some("the result's columns (names or types) changed since the last run".to_string())
    } else {
        state.full_read_reason.clone()
    };
    Completion {
        success_at: progress.query_started_at,
        schema_digest: progress.schema.clone(),
        query_digest: progress
            .mode
            .full
            .then(|| progress.query_digest.clone())
            .flatten(),
        full_read_reason,
        keeps_failure_streak: !progress.mode.full
            && state.consecutive_failures > 0
            && state.full_read_failing,
    }
}

/// Settles a run that failed with `error` (also one that could not start
/// its invocation, e.g. for a configuration error).
pub fn fail(error: RunError, state: &SyncState, now: Micros, config: &SyncConfig) -> Settlement {
    let consecutive_failures = state.consecutive_failures.saturating_add(1);
    Settlement {
        wake_at: Some(now + backoff(consecutive_failures, interval(config))),
        end: RunEnd::Failed {
            error,
            consecutive_failures,
        },
        suspend: None,
    }
}

/// A failed run that got somewhere is kept, so the next run of its kind
/// resumes it instead of reading from the first row again (a large read
/// that fails now and then would otherwise never finish). A suspended full
/// read is never displaced by an incremental one.
fn suspend(progress: &RunProgress, state: &SyncState) -> Option<SuspendedRead> {
    let read_something = progress.position.is_some() || progress.reconcile.is_some();
    let keeps_a_full_read = !progress.mode.full
        && state
            .suspended_read
            .as_ref()
            .is_some_and(|s| s.progress.mode.full);
    (read_something && !keeps_a_full_read).then(|| SuspendedRead {
        progress: RunProgress {
            read_since_run: Some(progress.marks_from()),
            ..progress.clone()
        },
        query_digest: progress.query_digest.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
#[path = "settle_tests.rs"]
mod tests;
