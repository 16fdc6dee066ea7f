//! When the coordinator wakes next.
//!
//! The interval counts from the end of a run, not its start, so a slow run
//! never stacks up behind itself. Failures back off (10 s, 20 s, 40 s, …) but
//! never wait longer than the interval: a fixed outage heals on its own.

use crate::engine::time::{Micros, MICROS_PER_SECOND};

const FIRST_RETRY: Micros = 10 * MICROS_PER_SECOND;

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
}
