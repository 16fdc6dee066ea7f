//! When the BigQuery client calls again, and how long it waits first: the
//! policy alone, as a pure function the client asks after every failure.
//!
//! - A rejected token (401/403 while a cached token was used) is dropped
//!   and the call made once more with a new one; a second rejection is the
//!   credentials' fault and ends the attempt.
//! - What the error table calls transient (`Retry::Soon`) waits 1 s, 2 s,
//!   4 s, … 32 s, each ±25 % so that many clients do not retry in step, or
//!   what `Retry-After` asks if that is longer.
//! - No wait starts that would end after the invocation's deadline: the run
//!   then fails with the last error, and the coordinator retries it later.

use crate::engine::error::{Retry, WarehouseError};
use crate::engine::time::{Micros, MICROS_PER_SECOND};

pub(crate) const FIRST_RETRY: Micros = MICROS_PER_SECOND;
pub(crate) const LAST_RETRY: Micros = 32 * MICROS_PER_SECOND;

/// What the client does after a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NextStep {
    /// Drop the cached token, mint a new one, call again at once.
    RenewToken,
    /// Wait this long, then call again.
    Wait(Micros),
    /// Return the error.
    GiveUp,
}

/// The facts of one failed call the policy needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Failure<'a> {
    pub error: &'a WarehouseError,
    /// The call carried a token minted earlier (a rejection may be its fault).
    pub used_cached_token: bool,
    pub retry_after: Option<Micros>,
    pub now: Micros,
    /// A number in `[0, 1)` for jitter.
    pub random: f64,
}

/// The retry state of one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retries {
    deadline: Micros,
    next_delay: Micros,
    token_renewed: bool,
}

impl Retries {
    pub(crate) fn new(deadline: Micros) -> Self {
        Retries {
            deadline,
            next_delay: FIRST_RETRY,
            token_renewed: false,
        }
    }

    pub(crate) fn after(&mut self, failure: Failure<'_>) -> NextStep {
        if matches!(failure.error, WarehouseError::Auth(_))
            && failure.used_cached_token
            && !self.token_renewed
        {
            self.token_renewed = true;
            return NextStep::RenewToken;
        }
        if failure.error.retry() != Retry::Soon {
            return NextStep::GiveUp;
        }
        let jittered = (self.next_delay as f64 * (0.75 + 0.5 * failure.random)) as Micros;
        let wait = failure
            .retry_after
            .map_or(jittered, |asked| asked.max(jittered));
        if failure.now + wait > self.deadline {
            return NextStep::GiveUp;
        }
        self.next_delay = (self.next_delay * 2).min(LAST_RETRY);
        NextStep::Wait(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = MICROS_PER_SECOND;

    fn failure(error: &WarehouseError, now: Micros, random: f64) -> Failure<'_> {
        Failure {
            error,
            used_cached_token: false,
            retry_after: None,
            now,
            random,
        }
    }

    #[test]
    fn transient_errors_back_off_doubling_to_a_cap_within_jitter_bounds() {
        let busy = WarehouseError::Backend("backendError".into());
        let bases = [1, 2, 4, 8, 16, 32, 32, 32].map(|s| s * S);
        for random in [0.0, 0.5, 0.999_999] {
            let mut retries = Retries::new(Micros::MAX / 2);
            for base in bases {
                let NextStep::Wait(wait) = retries.after(failure(&busy, 0, random)) else {
                    panic!("a transient error is retried")
                };
                assert!(
                    wait >= base * 3 / 4 && wait <= base * 5 / 4,
                    "random {random}: {wait} for {base}"
                );
                if random == 0.5 {
                    assert_eq!(wait, base, "the middle of the jitter is the base delay");
                }
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_when_longer_than_the_backoff() {
        let limited = WarehouseError::RateLimited("429".into());
        let mut retries = Retries::new(Micros::MAX / 2);
        let asked = Failure {
            retry_after: Some(20 * S),
            ..failure(&limited, 0, 0.5)
        };
        assert_eq!(retries.after(asked), NextStep::Wait(20 * S));
        let short = Failure {
            retry_after: Some(S / 10),
            ..failure(&limited, 0, 0.5)
        };
        assert_eq!(
            retries.after(short),
            NextStep::Wait(2 * S),
            "the backoff is the floor"
        );
    }

    #[test]
    fn no_wait_ends_after_the_deadline() {
        let down = WarehouseError::Unreachable("refused".into());
        let mut retries = Retries::new(10 * S);
        assert_eq!(retries.after(failure(&down, 8 * S, 0.5)), NextStep::Wait(S));
        assert_eq!(
            retries.after(failure(&down, 9 * S, 0.5)),
            NextStep::GiveUp,
            "2 s would end at 11 s"
        );
        let limited = WarehouseError::RateLimited("429".into());
        let mut retries = Retries::new(10 * S);
        let asked = Failure {
            retry_after: Some(30 * S),
            ..failure(&limited, 0, 0.5)
        };
        assert_eq!(retries.after(asked), NextStep::GiveUp);
    }

    #[test]
    fn a_rejected_cached_token_is_renewed_once_and_persistent_errors_give_up() {
        let denied = WarehouseError::Auth("Request had invalid authentication credentials".into());
        let mut retries = Retries::new(Micros::MAX / 2);
        let with_token = Failure {
            used_cached_token: true,
            ..failure(&denied, 0, 0.5)
        };
        assert_eq!(retries.after(with_token), NextStep::RenewToken);
        assert_eq!(retries.after(with_token), NextStep::GiveUp, "only once");
        let mut fresh = Retries::new(Micros::MAX / 2);
        assert_eq!(
            fresh.after(failure(&denied, 0, 0.5)),
            NextStep::GiveUp,
            "no cached token to blame"
        );
        for persistent in [
            WarehouseError::InvalidQuery("Unrecognized name".into()),
            WarehouseError::Malformed("not JSON".into()),
            WarehouseError::ResultsExpired("gone".into()),
        ] {
            assert_eq!(
                fresh.after(failure(&persistent, 0, 0.5)),
                NextStep::GiveUp,
                "{persistent:?}"
            );
        }
    }
}
