//! Service-account sign-in, the parts that are plain data: the key file, the
//! RS256 JWT a service account presents, and the access token it gets back.
//!
//! The signature itself is made by WebCrypto in the Worker (`signer.rs`):
//! the runtime already carries a vetted RSA implementation, so the wasm does
//! not grow by a Rust RSA stack (~200 KB) for one signature an hour.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use crate::engine::error::WarehouseError;
use crate::engine::time::{Micros, MICROS_PER_SECOND};

/// Enough to run query jobs and read their results, and nothing more.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/bigquery.readonly";
/// The PEM label of a PKCS#8 private key, the form Google issues.
pub(crate) const PKCS8_LABEL: &str = "PRIVATE KEY";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const ASSERTION_LIFETIME_SECONDS: i64 = 3_600;
/// A cached token is replaced this long before it expires, so a request
/// never leaves with a token that dies on the way.
const REFRESH_MARGIN: Micros = 5 * 60 * MICROS_PER_SECOND;

/// The fields kv-sync reads from a service-account JSON key.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    private_key: String,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
    #[serde(default)]
    pub project_id: Option<String>,
}

fn default_token_uri() -> String {
    DEFAULT_TOKEN_URI.to_string()
}

/// Never prints the private key.
impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

fn auth_error(message: impl Into<String>) -> WarehouseError {
    WarehouseError::Auth(message.into())
}

impl ServiceAccountKey {
    /// Parses the `BIGQUERY_CREDENTIALS` secret. Errors never quote it.
    pub fn parse(json: &str) -> Result<Self, WarehouseError> {
        let key: ServiceAccountKey = serde_json::from_str(json).map_err(|e| {
            auth_error(format!(
                "BIGQUERY_CREDENTIALS is not a service-account JSON key (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        key.private_key_der()?;
        Ok(key)
    }

    /// The PKCS#8 DER bytes inside the key's PEM `private_key`. Google's
    /// keys are PKCS#8; a PKCS#1 key (label `RSA PRIVATE KEY`) is named as
    /// such, since WebCrypto cannot import it.
    pub fn private_key_der(&self) -> Result<Vec<u8>, WarehouseError> {
        let label = self
            .private_key
            .lines()
            .find_map(|l| l.trim().strip_prefix("-----BEGIN ")?.strip_suffix("-----"));
        if label != Some(PKCS8_LABEL) {
            return Err(auth_error(format!(
                "BIGQUERY_CREDENTIALS private_key must be a PKCS#8 PEM (label {PKCS8_LABEL:?}); found {}",
                label.map_or("no PEM label".to_string(), |l| format!("label {l:?}"))
            )));
        }
        let body: String = self
            .private_key
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        STANDARD
            .decode(body)
            .map_err(|_| auth_error("BIGQUERY_CREDENTIALS private_key is not valid base64 PEM"))
    }

    /// `base64url(header).base64url(claims)`: the bytes the RS256 signature covers.
    pub fn jwt_signing_input(&self, now: Micros) -> String {
        let iat = now / MICROS_PER_SECOND;
        let header = json!({"alg": "RS256", "typ": "JWT"});
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME_SECONDS,
        });
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }
}

/// The signed JWT.
pub(crate) fn jwt(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The form body of the token request (RFC 7523).
pub(crate) fn token_request_body(jwt: &str) -> String {
    format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}")
}

/// An OAuth access token and when it stops working.
#[derive(Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: Micros,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AccessToken(<redacted>, expires_at: {})",
            self.expires_at
        )
    }
}

impl AccessToken {
    pub fn usable(&self, now: Micros) -> bool {
        now < self.expires_at - REFRESH_MARGIN
    }
}

/// Reads the token endpoint's answer.
pub(crate) fn parse_token_response(
    status: u16,
    body: &str,
    now: Micros,
) -> Result<AccessToken, WarehouseError> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: Option<String>,
        expires_in: Option<i64>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let answer: Answer = serde_json::from_str(body).map_err(|_| {
        WarehouseError::Malformed(format!(
            "token endpoint answered HTTP {status} with a body that is not JSON"
        ))
    })?;
    match (status, answer.access_token) {
        (200..=299, Some(token)) => Ok(AccessToken {
            token,
            expires_at: now + answer.expires_in.unwrap_or(3_600) * MICROS_PER_SECOND,
        }),
        (429, _) => Err(WarehouseError::RateLimited(
            "token endpoint: too many requests".into(),
        )),
        (500..=599, _) => Err(WarehouseError::Backend(format!(
            "token endpoint answered HTTP {status}"
        ))),
        _ => Err(auth_error(format!(
            "token endpoint refused the service account (HTTP {status}): {} {}",
            answer.error.unwrap_or_default(),
            answer.error_description.unwrap_or_default()
        ))),
    }
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
