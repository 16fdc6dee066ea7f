//! Routing: `/sync-kv-now`, `/status` (each for `?sync=NAME`), `/syncs`,
//! `/dashboard`, and the cron trigger.
//! Every response leaves through `harden`, which adds the security headers.

use futures::StreamExt;
use serde_json::json;
use worker::{
    event, Env, Headers, Method, Request, RequestInit, Response, Result, ScheduleContext,
    ScheduledEvent,
};

use super::auth::{check, Access, Keys, Verdict};
use super::headers::{dashboard_page, security_headers, Body};
use crate::coordination::params::SyncParams;
use crate::coordination::status::SyncSummary;
use crate::coordination::syncs::{coordinator_name, sync_names, DEFAULT_SYNC};
use crate::coordinator::{setting, SYNC_HEADER};
use crate::engine::excerpt::excerpt;
use crate::runtime::worker::WorkerRuntime;
use crate::runtime::Runtime;

/// Webhook bodies are small JSON notes from n8n or BigQuery; anything larger
/// is a mistake or an attack, and is not read past this size.
const MAX_BODY_BYTES: usize = 16 * 1024;

const DASHBOARD: &str = include_str!("dashboard.html");

/// The routes, and the methods each really takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Sync,
    Status,
    Syncs,
    Dashboard,
}

impl Route {
    fn of(path: &str) -> Option<Route> {
        match path {
            "/sync-kv-now" => Some(Route::Sync),
            "/status" => Some(Route::Status),
            "/syncs" => Some(Route::Syncs),
            "/dashboard" | "/dashboard/" => Some(Route::Dashboard),
            _ => None,
        }
    }

    fn allow(self) -> &'static str {
        match self {
            Route::Sync => "POST",
            Route::Status | Route::Syncs | Route::Dashboard => "GET, HEAD",
        }
    }

    fn allows(self, method: &Method) -> bool {
        match self {
            Route::Sync => *method == Method::Post,
            _ => matches!(method, Method::Get | Method::Head),
        }
    }
}

fn error(status: u16, message: &str) -> Result<Response> {
    Ok(Response::from_json(&json!({"success": false, "error": message}))?.with_status(status))
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> Result<Response> {
    let routed = route(req, &env).await?;
    harden(routed)
}

/// A response on its way out, and what it needs added.
struct Routed {
    response: Response,
    body: Body,
    nonce: Option<String>,
    headers: Vec<(&'static str, &'static str)>,
}

impl Routed {
    fn json(response: Response) -> Self {
        Routed {
            response,
            body: Body::Json,
            nonce: None,
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// Adds the route's headers and the security headers (headers of a
/// response from the coordinator cannot be changed in place, so they are
/// copied).
fn harden(routed: Routed) -> Result<Response> {
    let headers = Headers::new();
    for (name, value) in routed.response.headers().entries() {
        headers.set(&name, &value)?;
    }
    for (name, value) in routed.headers {
        headers.set(name, value)?;
    }
    for (name, value) in security_headers(routed.body, routed.nonce.as_deref()) {
        headers.set(name, &value)?;
    }
    Ok(routed.response.with_headers(headers))
}

async fn route(mut req: Request, env: &Env) -> Result<Routed> {
    let url = req.url()?;
    let Some(route) = Route::of(url.path()) else {
        let message = format!(
            "no route for {}; see /dashboard, /status, /syncs, /sync-kv-now",
            url.path()
        );
        return Ok(Routed::json(error(404, &message)?));
    };
    if !route.allows(&req.method()) {
        let response = error(405, &format!("method not allowed; use {}", route.allow()))?;
        return Ok(Routed::json(response).with("Allow", route.allow()));
    }
    if route == Route::Dashboard {
        let nonce = nonce()?;
        return Ok(Routed {
            response: Response::from_html(dashboard_page(DASHBOARD, &nonce))?,
            body: Body::Dashboard,
            nonce: Some(nonce),
            headers: Vec::new(),
        });
    }
    let access = match authorize(&req, env)? {
        Ok(access) => access,
        Err(refused) => return Ok(refused),
    };
    let syncs = match sync_names(|name| setting(env, name)) {
        Ok(syncs) => syncs,
        Err(e) => return Ok(Routed::json(error(500, &e.to_string())?)),
    };
    let routed = match route {
        Route::Syncs => Routed::json(list_syncs(env, &syncs).await?),
        _ => {
            let sync = match chosen_sync(&url, &syncs) {
                Ok(sync) => sync,
                Err(message) => return Ok(Routed::json(error(404, &message)?)),
            };
            match route {
                Route::Sync => Routed::json(trigger(&mut req, env, access, &url, sync).await?),
                _ => Routed::json(forward(env, sync, "/status", None).await?),
            }
        }
    };
    // The dashboard hides what this token may not do.
    Ok(match access {
        Access::ReadOnly => routed.with("X-KV-Sync-Access", "read-only"),
        Access::Full => routed,
    })
}

/// The sync `?sync=NAME` names (none: the default one).
fn chosen_sync<'a>(url: &worker::Url, syncs: &'a [String]) -> std::result::Result<&'a str, String> {
    let name = url
        .query_pairs()
        .find(|(k, _)| k == "sync")
        .map_or_else(|| DEFAULT_SYNC.to_string(), |(_, v)| v.into_owned());
    syncs
        .iter()
        .find(|s| **s == name)
        .map(String::as_str)
        .ok_or_else(|| {
            format!(
                "no sync named {:?}; the syncs are {}",
                excerpt(&name, 40),
                syncs.join(", ")
            )
        })
}

/// `GET /syncs`: every sync at a glance, each coordinator asked in parallel.
async fn list_syncs(env: &Env, syncs: &[String]) -> Result<Response> {
    let asks = syncs.iter().map(|name| async move {
        let status = match forward(env, name, "/status", None).await {
            Ok(mut response) => response
                .json::<serde_json::Value>()
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        SyncSummary::of(name, status)
    });
    let summaries = futures::future::join_all(asks).await;
    Response::from_json(&summaries)
}

/// `POST /sync-kv-now`, once the bearer passed.
async fn trigger(
    req: &mut Request,
    env: &Env,
    access: Access,
    url: &worker::Url,
    sync: &str,
) -> Result<Response> {
    if access == Access::ReadOnly {
        return error(
            403,
            "this token may only read /status; starting a sync needs EVENT_SIGNING_SECRET",
        );
    }
    if body_too_large(req).await? {
        return error(413, &format!("request body over {MAX_BODY_BYTES} bytes"));
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    match SyncParams::read(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(params) => forward(env, sync, "/sync", Some(&params.to_query())).await,
        Err(e) => error(400, &e.to_string()),
    }
}

/// Passes a request to `sync`'s coordinator, telling it which sync it is.
async fn forward(env: &Env, sync: &str, path: &str, query: Option<&str>) -> Result<Response> {
    let target = match query {
        Some(q) => format!("https://coordinator{path}?{q}"),
        None => format!("https://coordinator{path}"),
    };
    let headers = Headers::new();
    headers.set(SYNC_HEADER, sync)?;
    let mut init = RequestInit::new();
    init.with_headers(headers);
    let request = Request::new_with_init(&target, &init)?;
    let stub = env
        .durable_object("SYNC_COORDINATOR")?
        .id_from_name(&coordinator_name(sync))?
        .get_stub()?;
    stub.fetch_with_request(request).await
}

/// The bearer's access, or the response that refuses it.
fn authorize(req: &Request, env: &Env) -> Result<std::result::Result<Access, Routed>> {
    let secret = env
        .secret("EVENT_SIGNING_SECRET")
        .ok()
        .map(|s| s.to_string());
    let status_token = env.secret("STATUS_TOKEN").ok().map(|s| s.to_string());
    let keys = Keys {
        secret: secret.as_deref(),
        status_token: status_token.as_deref(),
    };
    let message = match check(req.headers().get("Authorization")?.as_deref(), keys) {
        Verdict::Allowed(access) => return Ok(Ok(access)),
        Verdict::NotConfigured => {
            let message =
                "EVENT_SIGNING_SECRET is not configured; set it with `wrangler secret put EVENT_SIGNING_SECRET`";
            return Ok(Err(Routed::json(error(503, message)?)));
        }
        Verdict::Missing => "missing bearer token: send Authorization: Bearer <token>",
        Verdict::Wrong => "invalid bearer token",
    };
    Ok(Err(
        Routed::json(error(401, message)?).with("WWW-Authenticate", "Bearer")
    ))
}

/// Refuses a declared length over the limit at once; otherwise reads the
/// body only up to one byte past the limit (a chunked body has no length).
async fn body_too_large(req: &mut Request) -> Result<bool> {
    if let Some(len) = req.headers().get("Content-Length")? {
        if !matches!(len.trim().parse::<usize>(), Ok(n) if n <= MAX_BODY_BYTES) {
            return Ok(true);
        }
    }
    let Ok(mut stream) = req.stream() else {
        return Ok(false);
    };
    let mut read = 0;
    while let Some(chunk) = stream.next().await {
        read += chunk?.len();
        if read > MAX_BODY_BYTES {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A fresh nonce for the dashboard's inline script and style.
fn nonce() -> Result<String> {
    use base64::Engine as _;
    use wasm_bindgen::JsCast;
    let mut bytes = [0u8; 18];
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    scope
        .crypto()
        .and_then(|c| c.get_random_values_with_u8_array(&mut bytes))
        .map_err(|e| worker::Error::RustError(format!("no random nonce: {e:?}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    // The cron trigger only re-arms lost alarms; the alarms do the work.
    let syncs = match sync_names(|name| setting(&env, name)) {
        Ok(syncs) => syncs,
        Err(e) => {
            return WorkerRuntime.log(&json!({"event": "cron_error", "error": e.to_string()}))
        }
    };
    for sync in &syncs {
        if let Err(e) = forward(&env, sync, "/ensure-alarm", None).await {
            WorkerRuntime
                .log(&json!({"event": "cron_error", "sync": sync, "error": e.to_string()}));
        }
    }
}
