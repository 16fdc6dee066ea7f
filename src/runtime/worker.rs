//! The Workers runtime behind `Runtime`: `Date.now()`, `console.log`,
//! timers, `fetch`, `Math.random` and WebCrypto.

use std::time::Duration;

use worker::{Delay, Fetch, Headers, Request, RequestInit};

use super::{HttpRequest, HttpResponse, Method, Runtime, TransportError};
use crate::engine::ports::Clock;
use crate::engine::time::{Micros, MICROS_PER_MILLI};

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
        let url = request.url;
        let failed = |e: worker::Error| TransportError(format!("{url}: {e}"));
        let headers = Headers::new();
        for (name, value) in request.headers {
            headers.set(name, value).map_err(failed)?;
        }
        let mut init = RequestInit::new();
        init.with_method(match request.method {
            Method::Get => worker::Method::Get,
            Method::Post => worker::Method::Post,
            Method::Put => worker::Method::Put,
        })
        .with_headers(headers);
        if let Some(body) = request.body {
            init.with_body(Some(body.into()));
        }
        let outbound = Request::new_with_init(url, &init).map_err(failed)?;
        let mut response = Fetch::Request(outbound).send().await.map_err(failed)?;
        let retry_after = response.headers().get("Retry-After").ok().flatten();
        let body = response.text().await.map_err(failed)?;
        Ok(HttpResponse {
            status: response.status_code(),
            retry_after,
            body,
        })
    }

    fn random(&self) -> f64 {
        js_sys::Math::random()
    }

    async fn sign_rs256(&self, pkcs8_der: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        super::webcrypto::sign_rs256(pkcs8_der, data).await
    }
}

impl Clock for WorkerRuntime {
    fn now(&self) -> Micros {
        Runtime::now(self)
    }
}

/// The size of this isolate's wasm memory, in bytes. Wasm memory grows and
/// never shrinks, so after an invocation this is its high-water mark.
pub fn wasm_memory_bytes() -> u64 {
    const WASM_PAGE_BYTES: u64 = 64 * 1024;
    core::arch::wasm32::memory_size(0) as u64 * WASM_PAGE_BYTES
}
