//! The Google-signed OIDC token Pub/Sub sends with each push, and the
//! checks its claims must pass (`key_set` holds the keys that sign it).
//!
//! Only RS256 is accepted, whatever the header says: a token that names
//! `none` or an HMAC algorithm is refused before any key is looked at, so
//! a public key can never be used as an HMAC secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;

use crate::engine::time::{Micros, MICROS_PER_SECOND};

/// Clock difference tolerated between Google and this runtime.
pub const SKEW_SECONDS: i64 = 60;

/// The issuers Google's ID tokens carry.
const ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// Why a push's token is refused (`401`), or cannot be checked now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Malformed(String),
    Algorithm(String),
    UnknownKey(String),
    BadSignature,
    Issuer(String),
    Audience(String),
    Expired,
    NotYetIssued,
    Email(Option<String>),
    EmailUnverified,
    /// Google's keys could not be fetched: not the token's fault (`503`).
    KeysUnavailable(String),
}

impl Refusal {
    /// The status a refusal is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::KeysUnavailable(_) => 503,
            _ => 401,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Missing => f.write_str(
                "missing OIDC token: /push takes Pub/Sub's Authorization: Bearer <Google-signed JWT> \
                 (set --push-auth-service-account on the subscription)",
            ),
            Refusal::Malformed(why) => write!(f, "the bearer is not a JWT: {why}"),
            Refusal::Algorithm(alg) => write!(f, "token algorithm {alg:?} refused: only RS256"),
            Refusal::UnknownKey(kid) => write!(
                f,
                "token signed with key {kid:?}, which is not among Google's certificates"
            ),
            Refusal::BadSignature => f.write_str("token signature does not verify"),
            Refusal::Issuer(iss) => write!(f, "token issuer {iss:?} is not Google"),
            Refusal::Audience(aud) => write!(
                f,
                "token audience {aud:?} is not PUSH_AUDIENCE: set the subscription's \
                 --push-auth-token-audience to it"
            ),
            Refusal::Expired => f.write_str("token expired"),
            Refusal::NotYetIssued => f.write_str("token issued in the future"),
            Refusal::Email(email) => write!(
                f,
                "token email {:?} is not PUSH_SERVICE_ACCOUNT",
                email.as_deref().unwrap_or("")
            ),
            Refusal::EmailUnverified => f.write_str("token email is not verified"),
            Refusal::KeysUnavailable(why) => {
                write!(f, "cannot fetch Google's certificates to check the token: {why}")
            }
        }
    }
}

/// What a push's token must say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected<'a> {
    /// `PUSH_AUDIENCE`.
    pub audience: &'a str,
    /// `PUSH_SERVICE_ACCOUNT`, when set.
    pub service_account: Option<&'a str>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    aud: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    email: Option<String>,
    email_verified: Option<serde_json::Value>,
}

/// A token taken apart, its signature not yet checked.
pub struct IdToken<'t> {
    /// The key that signed it.
    pub kid: String,
    /// `header.payload`, the bytes the signature covers.
    pub signed: &'t str,
    pub signature: Vec<u8>,
    claims: Claims,
}

fn decode(part: &str, what: &str) -> Result<Vec<u8>, Refusal> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| Refusal::Malformed(format!("its {what} is not base64url ({e})")))
}

impl<'t> IdToken<'t> {
    /// Takes the bearer of an `Authorization` header apart.
    pub fn read(authorization: Option<&'t str>) -> Result<Self, Refusal> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::Missing)?;
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::Malformed("it does not have three parts".into()));
        };
        let header: Header = serde_json::from_slice(&decode(header, "header")?)
            .map_err(|e| Refusal::Malformed(format!("its header is not JSON ({e})")))?;
        let alg = header.alg.unwrap_or_default();
        if alg != "RS256" {
            return Err(Refusal::Algorithm(alg));
        }
        let kid = header
            .kid
            .ok_or_else(|| Refusal::Malformed("its header names no key (`kid`)".into()))?;
        let claims = serde_json::from_slice(&decode(payload, "payload")?)
            .map_err(|e| Refusal::Malformed(format!("its claims are not JSON ({e})")))?;
        Ok(IdToken {
            kid,
            signed: &token[..header_and_payload_len(token)],
            signature: decode(signature, "signature")?,
            claims,
        })
    }

    /// Checks the claims of a token whose signature verified.
    pub fn check_claims(&self, expected: &Expected<'_>, now: Micros) -> Result<(), Refusal> {
        let c = &self.claims;
        let iss = c.iss.as_deref().unwrap_or_default();
        if !ISSUERS.contains(&iss) {
            return Err(Refusal::Issuer(iss.into()));
        }
        let aud = c.aud.as_deref().unwrap_or_default();
        if aud != expected.audience {
            return Err(Refusal::Audience(aud.into()));
        }
        let now = now / MICROS_PER_SECOND;
        if c.exp
            .is_none_or(|exp| now > exp.saturating_add(SKEW_SECONDS))
        {
            return Err(Refusal::Expired);
        }
        if c.iat
            .is_none_or(|iat| iat > now.saturating_add(SKEW_SECONDS))
        {
            return Err(Refusal::NotYetIssued);
        }
        if let Some(account) = expected.service_account {
            if c.email.as_deref() != Some(account) {
                return Err(Refusal::Email(c.email.clone()));
            }
            let verified = matches!(&c.email_verified, Some(serde_json::Value::Bool(true)))
                || matches!(&c.email_verified, Some(serde_json::Value::String(s)) if s == "true");
            if !verified {
                return Err(Refusal::EmailUnverified);
            }
        }
        Ok(())
    }
}

/// The length of `header.payload` in a token of three parts.
fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

#[cfg(test)]
#[path = "id_token_tests.rs"]
mod tests;
