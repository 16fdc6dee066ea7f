//! The run lease: one run at a time, and a dead holder is replaced.
//!
//! A Durable Object interleaves requests whenever it awaits I/O, so "the
//! object is single-threaded" does not stop two runs from overlapping: the
//! alarm may be mid-fetch when a webhook arrives. The lease does. It has an
//! expiry, so a holder whose invocation died is taken over once it lapses,
//! and a fencing number that grows with every acquisition, so a holder that
//! wakes up late finds its number stale and can no longer checkpoint.

use serde::{Deserialize, Serialize};

use crate::engine::time::Micros;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLease {
    pub run_id: u64,
    pub fence: u64,
    pub expires_at: Micros,
}

impl RunLease {
    pub fn is_live(&self, now: Micros) -> bool {
        now < self.expires_at
    }

    /// Takes the lease for `run_id`, unless a live holder has it (then that
    /// holder is returned). `last` is the lease as last stored, live or not:
    /// its fence is what the new one must exceed.
    pub fn acquire(
        last: Option<&RunLease>,
        run_id: u64,
        now: Micros,
        ttl: Micros,
    ) -> Result<RunLease, RunLease> {
        match last {
            Some(holder) if holder.is_live(now) => Err(*holder),
            _ => Ok(RunLease {
                run_id,
                fence: Self::next_fence(last),
                expires_at: now + ttl,
            }),
        }
    }

    /// The fence the next lease taken after `last` gets.
    pub fn next_fence(last: Option<&RunLease>) -> u64 {
        last.map_or(1, |l| l.fence + 1)
    }

    /// Whether the invocation that took the lease with `fence` still holds
    /// it (so may still checkpoint).
    pub fn is_held_by(&self, fence: u64) -> bool {
        self.fence == fence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_lease_blocks_and_an_expired_one_is_taken_over() {
        let first = RunLease::acquire(None, 1, 0, 100).unwrap();
        assert_eq!(first.fence, 1);
        assert_eq!(RunLease::acquire(Some(&first), 2, 99, 100), Err(first));
        let second = RunLease::acquire(Some(&first), 2, 100, 100).unwrap();
        assert_eq!((second.run_id, second.fence), (2, 2));
        assert!(
            !second.is_held_by(first.fence),
            "the stale holder is fenced off"
        );
    }
}
