//! Outbound HTTP from the Worker: the one `fetch` the BigQuery client and
//! the KV bulk sink both send through. It only transports; each adapter
//! reads the answer and names its own errors.

use worker::{Fetch, Headers, Method, Request, RequestInit};

/// What came back: the status, the `Retry-After` header and the body text.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// No answer at all (DNS, connection, TLS, a body cut off): the message
/// names the URL, and the caller treats it as transient.
pub struct NoAnswer(pub String);

/// Sends one request with the given headers and body.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Result<Answer, NoAnswer> {
    let failed = |e: worker::Error| NoAnswer(format!("{url}: {e}"));
    let header_map = Headers::new();
    for (name, value) in headers {
        header_map.set(name, value).map_err(failed)?;
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(header_map);
    if let Some(body) = body {
        init.with_body(Some(body.into()));
    }
    let request = Request::new_with_init(url, &init).map_err(failed)?;
    let mut response = Fetch::Request(request).send().await.map_err(failed)?;
    let retry_after = response.headers().get("Retry-After").ok().flatten();
    let body = response.text().await.map_err(failed)?;
    Ok(Answer {
        status: response.status_code(),
        retry_after,
        body,
    })
}
