//! The seam to the platform kv-sync runs on: time, logs, sleeping, outbound
//! HTTP, randomness for jitter, and RS256 signatures.
//!
//! Adapters (the BigQuery client, the KV bulk sink) and the coordinator take
//! a `Runtime` instead of reaching for Workers APIs, so each can be driven on
//! the host by a test runtime with a paused clock and scripted answers.
//! The Workers shell implements it over `fetch`, timers and WebCrypto.
#![allow(async_fn_in_trait)]

#[cfg(any(test, feature = "testing"))]
pub mod scripted;
pub(crate) mod url;

use crate::engine::ports::Clock;
use crate::engine::time::{Micros, MICROS_PER_SECOND};
pub use crate::push::key_set::RsaKey;

/// The HTTP methods kv-sync sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// One outbound request. The body is borrowed: a retry sends the same text
/// again without copying it.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a str>,
}

/// What came back: the status, the `Retry-After` and `Cache-Control`
/// headers and the body text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub retry_after: Option<String>,
    pub cache_control: Option<String>,
    pub body: String,
}

impl HttpResponse {
    /// `Retry-After` in seconds (the form Cloudflare and Google send), as
    /// microseconds; an HTTP date is not used by either and reads as none.
    pub fn retry_after(&self) -> Option<Micros> {
        let seconds = self.retry_after.as_deref()?.trim().parse::<u32>().ok()?;
        Some(Micros::from(seconds) * MICROS_PER_SECOND)
    }
}

/// No answer at all (DNS, connection, TLS, a body cut off). The message
/// names the URL; callers treat it as transient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportError(pub String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TransportError {}

pub trait Runtime {
    fn now(&self) -> Micros;

    /// Emits one structured log line (`wrangler tail` shows it): a JSON
    /// object with an `event` member.
    fn log<T: serde::Serialize>(&self, event: &T);

    async fn sleep(&self, duration: Micros);

    /// Sends `request`. One without a complete answer within
    /// [`REQUEST_TIMEOUT`](crate::engine::limits::REQUEST_TIMEOUT) is
    /// abandoned (in a Worker, aborted) and fails with a `TransportError`
    /// that says so.
    async fn send(&self, request: HttpRequest<'_>) -> Result<HttpResponse, TransportError>;

    /// Text handed over to the runtime and kept there: in a Worker, a
    /// JavaScript string. A bulk body is assembled from such pieces, so the
    /// values it carries move out of wasm memory one by one instead of
    /// being copied into one large body beside them.
    type Held: Clone;

    fn hold(&self, text: &str) -> Self::Held;

    /// `text` as a JSON string literal, escaped by the runtime.
    fn hold_as_json(&self, text: &str) -> Self::Held;

    /// `open`, then `pieces` with `separator` between them, then `close`.
    fn join(&self, open: &str, pieces: &[&Self::Held], separator: &str, close: &str) -> Self::Held;

    /// Sends `request` with `body` (the request's own `body` is not used).
    async fn send_held(
        &self,
        request: HttpRequest<'_>,
        body: &Self::Held,
    ) -> Result<HttpResponse, TransportError>;

    /// A number in `[0, 1)`, for jitter.
    fn random(&self) -> f64;

    /// Signs `data` with RSASSA-PKCS1-v1_5 / SHA-256 under a PKCS#8 DER key.
    async fn sign_rs256(&self, pkcs8_der: &[u8], data: &[u8]) -> Result<Vec<u8>, String>;

    /// Whether `signature` is an RSASSA-PKCS1-v1_5 / SHA-256 signature of
    /// `data` under the RSA public key `key` (a JWK's base64url modulus and
    /// exponent); `Err` when the key itself is unusable.
    async fn verify_rs256(
        &self,
        key: &RsaKey,
        data: &[u8],
        signature: &[u8],
    ) -> Result<bool, String>;

    /// The isolate's wasm memory, where there is one: it never shrinks, so
    /// after an invocation it is the high-water mark the logs report.
    fn memory_bytes(&self) -> Option<u64> {
        None
    }
}

/// The engine tells time through its own small `Clock`; any runtime is one.
impl<R: Runtime> Clock for R {
    fn now(&self) -> Micros {
        Runtime::now(self)
    }
}
