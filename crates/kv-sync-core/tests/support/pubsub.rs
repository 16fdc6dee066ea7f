//! What Pub/Sub sends to `POST /push`: an envelope around one row as
//! `TO_JSON_STRING` renders it, with a Google-style OIDC token. The scripted
//! runtime's "RS256" is the signed bytes' last eight, reversed, so tokens
//! here are signed that way under the certificate double's key `google-1`.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

use kv_sync_core::engine::time::MICROS_PER_SECOND;
use kv_sync_core::runtime::HttpResponse;

use super::services::CERTS;

pub const AUDIENCE: &str = "https://kv-sync.test/push";
pub const ACCOUNT: &str = "push@demo.iam.gserviceaccount.com";

/// The vars that turn `/push` on against the certificate double.
pub const PUSH_VARS: &[(&str, &str)] = &[
    ("PUSH_AUDIENCE", AUDIENCE),
    ("PUSH_SERVICE_ACCOUNT", ACCOUNT),
    ("GOOGLE_OIDC_CERTS_URL", CERTS),
];

/// Google's certificate endpoint, as the double answers it: one key,
/// `google-1`, kept an hour.
pub fn certs_answer() -> HttpResponse {
    let keys = json!({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig",
                                 "kid": "google-1", "n": "bW9kdWx1cw", "e": "AQAB"}]});
    HttpResponse {
        status: 200,
        cache_control: Some("public, max-age=3600, must-revalidate".into()),
        body: keys.to_string(),
        ..HttpResponse::default()
    }
}

/// The claims Google puts in a push token issued at `now` (µs).
pub fn claims(now: i64) -> Value {
    let now = now / MICROS_PER_SECOND;
    json!({"iss": "https://accounts.google.com", "aud": AUDIENCE, "email": ACCOUNT,
           "email_verified": true, "sub": "1234", "iat": now, "exp": now + 3600})
}

/// A token for `claims`, signed under key `kid`.
pub fn token(claims: &Value, kid: &str) -> String {
    let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature: Vec<u8> = signed.bytes().rev().take(8).collect();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Pub/Sub's wrapped push body around `row`.
pub fn envelope(row: &Value) -> String {
    json!({"message": {"data": STANDARD.encode(row.to_string()), "messageId": "1",
                       "publishTime": "2026-01-01T00:00:00Z", "attributes": {}},
           "subscription": "projects/demo/subscriptions/kv-sync"})
    .to_string()
}
