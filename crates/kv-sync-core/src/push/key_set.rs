//! Google's signing keys (a JWKS), kept as long as the certificate
//! endpoint's `Cache-Control: max-age` allows.
//!
//! Google rotates its keys every few days and publishes a new one before
//! signing with it, so a token naming an unknown key usually means the
//! kept set is older than the token: the set is fetched again, but at most
//! once a minute, so a stream of forged key ids cannot turn every push into
//! a fetch.

use std::collections::HashMap;

use serde::Deserialize;

use crate::engine::time::{Micros, MICROS_PER_SECOND};

/// The least time between two fetches caused by unknown key ids.
pub const REFETCH_AFTER: Micros = 60 * MICROS_PER_SECOND;

/// One RSA public key as the JWKS gives it (base64url modulus and
/// exponent, the form WebCrypto imports).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct RsaKey {
    pub n: String,
    pub e: String,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// What to do about a token's key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(RsaKey),
    /// The set is stale, or does not have the key and may be fetched again.
    Fetch,
    /// Not in a set fetched less than a minute ago.
    Unknown,
}

/// The keys, when they were fetched and until when they may be used.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: HashMap<String, RsaKey>,
    fetched_at: Option<Micros>,
    fresh_until: Micros,
}

impl KeySet {
    pub fn lookup(&self, kid: &str, now: Micros) -> Lookup {
        let fresh = now < self.fresh_until;
        match (self.keys.get(kid), fresh) {
            (Some(key), true) => Lookup::Found(key.clone()),
            (_, false) => Lookup::Fetch,
            (None, true) if self.may_refetch(now) => Lookup::Fetch,
            (None, true) => Lookup::Unknown,
        }
    }

    /// A key kept from before, for when a stale set cannot be fetched
    /// again (Google's keys outlive their `max-age` by days).
    pub fn stale(&self, kid: &str) -> Option<RsaKey> {
        self.keys.get(kid).cloned()
    }

    fn may_refetch(&self, now: Micros) -> bool {
        self.fetched_at.is_none_or(|at| now - at >= REFETCH_AFTER)
    }

    /// Replaces the keys with a fetched JWKS (its RSA keys for RS256).
    pub fn replace(
        &mut self,
        body: &str,
        cache_control: Option<&str>,
        now: Micros,
    ) -> Result<(), String> {
        let jwks: Jwks = serde_json::from_str(body)
            .map_err(|e| format!("the certificates are not a JWKS ({e})"))?;
        self.keys = jwks
            .keys
            .into_iter()
            .filter(|k| k.kty.as_deref() == Some("RSA"))
            .filter(|k| k.alg.as_deref().is_none_or(|alg| alg == "RS256"))
            .filter_map(|k| Some((k.kid?, RsaKey { n: k.n?, e: k.e? })))
            .collect();
        self.fetched_at = Some(now);
        self.fresh_until = now + max_age(cache_control) * MICROS_PER_SECOND;
        Ok(())
    }

    /// Notes a fetch that failed, so unknown key ids do not retry it at
    /// once.
    pub fn fetch_failed(&mut self, now: Micros) {
        self.fetched_at = Some(now);
    }
}

/// `max-age` of a `Cache-Control` header, in seconds (0 when absent).
fn max_age(cache_control: Option<&str>) -> i64 {
    cache_control
        .into_iter()
        .flat_map(|h| h.split(','))
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &str = r#"{"keys":[
        {"kty":"RSA","alg":"RS256","use":"sig","kid":"a","n":"na","e":"AQAB"},
        {"kty":"RSA","use":"sig","kid":"b","n":"nb","e":"AQAB"},
        {"kty":"EC","kid":"c","crv":"P-256","x":"x","y":"y"},
        {"kty":"RSA","alg":"RS512","kid":"d","n":"nd","e":"AQAB"}]}"#;
    const S: Micros = MICROS_PER_SECOND;

    #[test]
    fn keys_are_kept_for_their_max_age() {
        let mut set = KeySet::default();
        assert_eq!(set.lookup("a", 0), Lookup::Fetch);
        set.replace(JWKS, Some("public, max-age=300, must-revalidate"), 0)
            .unwrap();
        assert!(matches!(set.lookup("a", 299 * S), Lookup::Found(k) if k.n == "na"));
        assert!(matches!(set.lookup("b", 0), Lookup::Found(_)));
        assert_eq!(set.lookup("a", 300 * S), Lookup::Fetch, "stale");
        assert_eq!(set.stale("a").map(|k| k.n), Some("na".into()));
    }

    #[test]
    fn an_unknown_key_id_fetches_again_at_most_once_a_minute() {
        let mut set = KeySet::default();
        set.replace(JWKS, Some("max-age=3600"), 0).unwrap();
        for kid in ["c", "d", "z"] {
            assert_eq!(set.lookup(kid, 30 * S), Lookup::Unknown, "{kid}");
        }
        assert_eq!(set.lookup("z", 60 * S), Lookup::Fetch);
        set.fetch_failed(60 * S);
        assert_eq!(set.lookup("z", 90 * S), Lookup::Unknown);
    }

    #[test]
    fn without_max_age_nothing_is_kept_and_a_broken_set_is_an_error() {
        let mut set = KeySet::default();
        set.replace(JWKS, None, 0).unwrap();
        assert_eq!(set.lookup("a", 0), Lookup::Fetch);
        assert!(set.replace("<html>", None, 0).is_err());
    }
}
