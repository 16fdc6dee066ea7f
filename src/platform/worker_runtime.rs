//! The Workers runtime behind `Runtime`: `Date.now()`, `console.log`,
//! timers, `fetch`, `Math.random` and WebCrypto.

use std::time::Duration;

use js_sys::JsString;
use wasm_bindgen::JsValue;
use worker::{Delay, Fetch, Headers, Request, RequestInit};

use kv_sync_core::engine::limits::REQUEST_TIMEOUT;
use kv_sync_core::engine::time::{Micros, MICROS_PER_MILLI, MICROS_PER_SECOND};
use kv_sync_core::runtime::{HttpRequest, HttpResponse, RsaKey, Runtime, TransportError};

#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerRuntime;

impl Runtime for WorkerRuntime {
    /// Millisecond resolution, which is all a budget, a lease or a schedule
    /// needs; row timestamps never come from here.
    fn now(&self) -> Micros {
        worker::Date::now().as_millis() as Micros * MICROS_PER_MILLI
    }

    fn log<T: serde::Serialize>(&self, event: &T) {
        if let Ok(line) = serde_json::to_string(event) {
            worker::console_log!("{line}");
        }
    }

    async fn sleep(&self, duration: Micros) {
        let micros = u64::try_from(duration).unwrap_or(0);
        Delay::from(Duration::from_micros(micros)).await;
    }

    async fn send(&self, request: HttpRequest<'_>) -> Result<HttpResponse, TransportError> {
        fetch(request, request.body.map(JsValue::from)).await
    }

    type Held = JsString;

    fn hold(&self, text: &str) -> JsString {
        JsString::from(text)
    }

    fn hold_as_json(&self, text: &str) -> JsString {
        // A JavaScript string always stringifies.
        js_sys::JSON::stringify(&JsValue::from_str(text)).unwrap_or_else(|_| JsString::from("null"))
    }

    fn join(&self, open: &str, pieces: &[&JsString], separator: &str, close: &str) -> JsString {
        let parts: js_sys::Array = pieces.iter().map(|p| JsValue::from(*p)).collect();
        JsString::from(open)
            .concat(&parts.join(separator))
            .concat(&JsString::from(close))
    }

    async fn send_held(
        &self,
        request: HttpRequest<'_>,
        body: &JsString,
    ) -> Result<HttpResponse, TransportError> {
        fetch(request, Some(body.into())).await
    }

    fn random(&self) -> f64 {
        js_sys::Math::random()
    }

    async fn sign_rs256(&self, pkcs8_der: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        super::webcrypto::sign_rs256(pkcs8_der, data).await
    }

    async fn verify_rs256(
        &self,
        key: &RsaKey,
        data: &[u8],
        signature: &[u8],
    ) -> Result<bool, String> {
        super::webcrypto::verify_rs256(key, data, signature).await
    }

    fn memory_bytes(&self) -> Option<u64> {
        Some(wasm_memory_bytes())
    }
}

/// Sends `request` with `body` (a JavaScript value) and reads the answer,
/// aborting both after `REQUEST_TIMEOUT`.
async fn fetch(
    request: HttpRequest<'_>,
    body: Option<JsValue>,
) -> Result<HttpResponse, TransportError> {
    let url = request.url;
    let seconds = REQUEST_TIMEOUT / MICROS_PER_SECOND;
    let signal = web_sys::AbortSignal::timeout_with_u32(seconds as u32 * 1000);
    let failed = |e: &dyn std::fmt::Display| match signal.aborted() {
        true => TransportError(format!("{url}: no answer within {seconds} s, abandoned")),
        false => TransportError(format!("{url}: {e}")),
    };
    let signal = worker::AbortSignal::from(signal.clone());
    let headers = Headers::new();
    for (name, value) in request.headers {
        headers.set(name, value).map_err(|e| failed(&e))?;
    }
    let mut init = RequestInit::new();
    let method = worker::Method::from(request.method.as_str().to_string());
    init.with_method(method).with_headers(headers);
    if body.is_some() {
        init.with_body(body);
    }
    let outbound = Request::new_with_init(url, &init).map_err(|e| failed(&e))?;
    let sent = Fetch::Request(outbound).send_with_signal(&signal).await;
    let response = sent.map_err(|e| failed(&e))?;
    let retry_after = response.headers().get("Retry-After").ok().flatten();
    let cache_control = response.headers().get("Cache-Control").ok().flatten();
    let status = response.status_code();
    let body = body_text(response).await;
    let body = body.map_err(|e| failed(&format_args!("reading the answer: {e}")))?;
    Ok(HttpResponse {
        status,
        retry_after,
        cache_control,
        body,
    })
}

/// A response's body as text, copied into wasm memory once, at its exact
/// size. `worker::Response::text` collects the body's chunks into a buffer
/// that grows by doubling (a 20 MiB page takes 32 MiB, and 48 MiB while it
/// grows), and a JavaScript string crosses into wasm through a buffer three
/// times its length once it holds a character beyond ASCII.
async fn body_text(response: worker::Response) -> Result<String, String> {
    let response: web_sys::Response = response.into();
    let promise = response.array_buffer().map_err(|e| format!("{e:?}"))?;
    let buffer = wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    String::from_utf8(bytes).map_err(|e| format!("the body is not UTF-8: {e}"))
}

/// The size of this isolate's wasm memory, in bytes. Wasm memory grows and
/// never shrinks, so after an invocation this is its high-water mark.
fn wasm_memory_bytes() -> u64 {
    const WASM_PAGE_BYTES: u64 = 64 * 1024;
    core::arch::wasm32::memory_size(0) as u64 * WASM_PAGE_BYTES
}
