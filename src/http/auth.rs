//! Bearer-token checks for the webhook and `/status`.
//!
//! The comparison takes the same time wherever the first wrong byte is, so
//! response timing does not leak the secret byte by byte. A missing secret
//! closes the endpoints (503) rather than opening them.

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
    if constant_time_eq(token.as_bytes(), secret.as_bytes()) {
        Verdict::Allowed
    } else {
        Verdict::Wrong
    }
}

fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares every byte of the longer input; only the lengths' equality is
/// revealed by timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    diff == 0
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
    fn lengths_differing_by_256_are_not_equal() {
        let a = vec![b'a'; 256];
        assert!(!constant_time_eq(&a, b""));
    }
}
