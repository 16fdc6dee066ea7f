//! Bearer-token checks for the webhook and `/status`.
//!
//! Two tokens: `EVENT_SIGNING_SECRET` may do everything; the optional
//! `STATUS_TOKEN` may only read (it sits in dashboard viewers' browsers, so
//! it must not start full resyncs). The comparison takes the same time
//! wherever the first wrong byte is, so response timing does not leak a
//! token byte by byte (`subtle`; only whether the lengths match is
//! revealed). A missing secret closes every endpoint (503) rather than
//! opening it, whatever `STATUS_TOKEN` says.

use subtle::ConstantTimeEq;

/// What a bearer may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `EVENT_SIGNING_SECRET`: read and trigger.
    Full,
    /// `STATUS_TOKEN`: read only.
    ReadOnly,
}

/// The tokens a deployment accepts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keys<'a> {
    pub secret: Option<&'a str>,
    pub status_token: Option<&'a str>,
}

/// The verdict on a request's `Authorization` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed(Access),
    /// No `Authorization: Bearer …` header.
    Missing,
    Wrong,
    /// `EVENT_SIGNING_SECRET` is not configured: nobody gets in.
    NotConfigured,
}

pub fn check(authorization: Option<&str>, keys: Keys<'_>) -> Verdict {
    let Some(secret) = keys.secret.filter(|s| !s.is_empty()) else {
        return Verdict::NotConfigured;
    };
    let Some(token) = authorization.and_then(bearer_token) else {
        return Verdict::Missing;
    };
    let equal = |key: &str| bool::from(token.as_bytes().ct_eq(key.as_bytes()));
    if equal(secret) {
        Verdict::Allowed(Access::Full)
    } else if keys
        .status_token
        .filter(|t| !t.is_empty())
        .is_some_and(equal)
    {
        Verdict::Allowed(Access::ReadOnly)
    } else {
        Verdict::Wrong
    }
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(secret: &str) -> Keys<'_> {
        Keys {
            secret: Some(secret),
            status_token: None,
        }
    }

    #[test]
    fn verdicts() {
        let full = Verdict::Allowed(Access::Full);
        assert_eq!(check(Some("Bearer s3cret"), only("s3cret")), full);
        assert_eq!(check(Some("bearer  s3cret "), only("s3cret")), full);
        assert_eq!(check(Some("Bearer s3cre"), only("s3cret")), Verdict::Wrong);
        assert_eq!(
            check(Some("Bearer s3cretX"), only("s3cret")),
            Verdict::Wrong
        );
        assert_eq!(
            check(Some("Basic s3cret"), only("s3cret")),
            Verdict::Missing
        );
        assert_eq!(check(None, only("s3cret")), Verdict::Missing);
        assert_eq!(
            check(Some("Bearer x"), Keys::default()),
            Verdict::NotConfigured
        );
        assert_eq!(check(Some("Bearer "), only("")), Verdict::NotConfigured);
    }

    #[test]
    fn the_status_token_reads_only_and_never_opens_an_unconfigured_deployment() {
        let keys = Keys {
            secret: Some("s3cret"),
            status_token: Some("viewer"),
        };
        assert_eq!(
            check(Some("Bearer viewer"), keys),
            Verdict::Allowed(Access::ReadOnly)
        );
        assert_eq!(
            check(Some("Bearer s3cret"), keys),
            Verdict::Allowed(Access::Full)
        );
        assert_eq!(check(Some("Bearer viewe"), keys), Verdict::Wrong);
        let no_secret = Keys {
            secret: None,
            status_token: Some("viewer"),
        };
        assert_eq!(
            check(Some("Bearer viewer"), no_secret),
            Verdict::NotConfigured
        );
        let empty = Keys {
            secret: Some("s3cret"),
            status_token: Some(""),
        };
        assert_eq!(check(Some("Bearer "), empty), Verdict::Missing);
    }

    #[test]
    fn a_secret_followed_by_anything_is_not_the_secret() {
        let mut long = "s3cret".to_string();
        long.push_str(&"\u{ff}".repeat(65_536));
        assert_eq!(
            check(Some(&format!("Bearer {long}")), only("s3cret")),
            Verdict::Wrong
        );
        let padded = format!("Bearer {}", "a".repeat(256));
        assert_eq!(check(Some(&padded), only("")), Verdict::NotConfigured);
        assert_eq!(check(Some(&padded), only("a")), Verdict::Wrong);
    }
}
