//! Bearer-token checks for the webhook and `/status`.
//!
//! The comparison takes the same time wherever the first wrong byte is, so
//! response timing does not leak the secret byte by byte (`subtle`; only
//! whether the lengths match is revealed). A missing secret closes the
//! endpoints (503) rather than opening them.

use subtle::ConstantTimeEq;

/// The verdict on a request's `Authorization` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// No `Authorization: Bearer …` header.
    Missing,
    Wrong,
    /// `EVENT_SIGNING_SECRET` is not configured: nobody gets in.
    NotConfigured,
}

pub fn check(authorization: Option<&str>, secret: Option<&str>) -> Verdict {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Verdict::NotConfigured;
    };
    let Some(token) = authorization.and_then(bearer_token) else {
        return Verdict::Missing;
    };
    if bool::from(token.as_bytes().ct_eq(secret.as_bytes())) {
        Verdict::Allowed
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

    #[test]
    fn verdicts() {
        assert_eq!(
            check(Some("Bearer s3cret"), Some("s3cret")),
            Verdict::Allowed
        );
        assert_eq!(
            check(Some("bearer  s3cret "), Some("s3cret")),
            Verdict::Allowed
        );
        assert_eq!(check(Some("Bearer s3cre"), Some("s3cret")), Verdict::Wrong);
        assert_eq!(
            check(Some("Bearer s3cretX"), Some("s3cret")),
            Verdict::Wrong
        );
        assert_eq!(
            check(Some("Basic s3cret"), Some("s3cret")),
            Verdict::Missing
        );
        assert_eq!(check(None, Some("s3cret")), Verdict::Missing);
        assert_eq!(check(Some("Bearer x"), None), Verdict::NotConfigured);
        assert_eq!(check(Some("Bearer "), Some("")), Verdict::NotConfigured);
    }

    #[test]
    fn a_secret_followed_by_anything_is_not_the_secret() {
        let mut long = "s3cret".to_string();
        long.push_str(&"\u{ff}".repeat(65_536));
        assert_eq!(
            check(Some(&format!("Bearer {long}")), Some("s3cret")),
            Verdict::Wrong
        );
        let padded = format!("Bearer {}", "a".repeat(256));
        assert_eq!(check(Some(&padded), Some("")), Verdict::NotConfigured);
        assert_eq!(check(Some(&padded), Some("a")), Verdict::Wrong);
    }
}
