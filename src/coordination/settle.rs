//! How an invocation settles: what becomes of the run and when the
//! coordinator wakes next.
//!
//! Every path leaves an alarm armed: at once when a run continues or a
//! follow-up waits, after a backoff when a run failed (10 s doubling, capped
//! at the interval), and one interval after a run completed. The interval
//! counts from the end of a run, so a slow run never stacks up behind itself.

use super::state::SyncState;
use crate::engine::config::SyncConfig;
use crate::engine::error::Retry;
use crate::engine::run::{Outcome, Pause};
use crate::engine::schedule::backoff;
use crate::engine::time::{Micros, MICROS_PER_SECOND};

/// What becomes of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    Completed,
    /// The run goes on in the next invocation.
    Paused(Pause),
    /// The run ends failed; the streak of failures includes it.
    Failed {
        error: String,
        consecutive_failures: u32,
    },
    /// Another invocation took the lease: this one stops without storing
    /// anything more (its holder arms the alarm).
    LeaseLost,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    pub end: RunEnd,
    pub wake_at: Option<Micros>,
}

fn interval(config: &SyncConfig) -> Micros {
    Micros::try_from(config.interval_seconds).unwrap_or(Micros::MAX / 4) * MICROS_PER_SECOND
}

/// Settles an invocation that ended with `outcome`. `state` is the sync's
/// state as stored now (a webhook may have queued a follow-up meanwhile).
pub fn settle(
    outcome: &Outcome,
    state: &SyncState,
    now: Micros,
    config: &SyncConfig,
) -> Settlement {
    match outcome {
        Outcome::Completed => Settlement {
            end: RunEnd::Completed,
            wake_at: Some(if state.follow_up.is_some() {
                now
            } else {
                now + interval(config)
            }),
        },
        Outcome::Paused(pause) => Settlement {
            end: RunEnd::Paused(*pause),
            wake_at: Some(now),
        },
        Outcome::Failed(e) if e.retry() == Retry::Never => Settlement {
            end: RunEnd::LeaseLost,
            wake_at: None,
        },
        Outcome::Failed(e) => fail(e.to_string(), state, now, config),
    }
}

/// Settles a run that failed with `error` (also one that could not start
/// its invocation, e.g. for a configuration error).
pub fn fail(error: String, state: &SyncState, now: Micros, config: &SyncConfig) -> Settlement {
    let consecutive_failures = state.consecutive_failures.saturating_add(1);
    Settlement {
        wake_at: Some(now + backoff(consecutive_failures, interval(config))),
        end: RunEnd::Failed {
            error,
            consecutive_failures,
        },
    }
}

#[cfg(test)]
#[path = "settle_tests.rs"]
mod tests;
