//! When the coordinator wakes next.
//!
//! The interval counts from the end of a run, not its start, so a slow run
//! never stacks up behind itself. Failures back off (10 s, 20 s, 40 s, …) but
//! never wait longer than the interval: a fixed outage heals on its own.

use crate::engine::time::{Micros, MICROS_PER_SECOND};
use crate::settings::SyncConfig;

const FIRST_RETRY: Micros = 10 * MICROS_PER_SECOND;

/// `SYNC_INTERVAL_SECONDS`.
pub(crate) fn interval(config: &SyncConfig) -> Micros {
    Micros::try_from(config.interval_seconds).unwrap_or(Micros::MAX / 4) * MICROS_PER_SECOND
}

/// The next scheduled run under the interval deployed now, when that moves
/// it forward: never later than one interval after the last run ended. (A
/// longer interval takes effect from the next run's end.)
pub(crate) fn sooner(
    next: Option<Micros>,
    last_end: Option<Micros>,
    interval: Micros,
) -> Option<Micros> {
    let due = last_end? + interval;
    (due < next?).then_some(due)
}

/// How long to wait after the `failures`-th consecutive failed run.
pub(crate) fn backoff(failures: u32, interval: Micros) -> Micros {
    let doublings = failures.saturating_sub(1).min(20);
    (FIRST_RETRY << doublings)
        .min(interval)
        .max(MICROS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_by_the_interval() {
        let interval = 300 * MICROS_PER_SECOND;
        let delays: Vec<_> = (1..=7)
            .map(|n| backoff(n, interval) / MICROS_PER_SECOND)
            .collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(backoff(1, 2 * MICROS_PER_SECOND), 2 * MICROS_PER_SECOND);
    }

    #[test]
    fn a_shorter_interval_moves_the_next_run_forward_and_a_longer_one_does_not() {
        let s = MICROS_PER_SECOND;
        let (ended, next) = (Some(1_000 * s), Some(1_300 * s));
        assert_eq!(sooner(next, ended, 60 * s), Some(1_060 * s));
        assert_eq!(sooner(next, ended, 300 * s), None);
        assert_eq!(sooner(next, ended, 900 * s), None);
        assert_eq!(sooner(None, ended, 60 * s), None, "nothing scheduled");
        assert_eq!(sooner(next, None, 60 * s), None, "no run has ended");
    }
}
