//! The public routes' HTTP glue (`edge::route` decides) and the cron
//! trigger. Every response leaves through `harden`, which adds the security
//! headers.

use futures::StreamExt;
use kv_sync_core::coordinator::policy::params::SyncParams;
use kv_sync_core::coordinator::policy::status::SyncSummary;
use kv_sync_core::coordinator::ports::Environment;
use kv_sync_core::coordinator::SYNC_HEADER;
use kv_sync_core::edge::auth::{check, Access, Keys};
use kv_sync_core::edge::headers::{dashboard_page, security_headers, Body};
use kv_sync_core::edge::route::{
    admit, chosen_sync, declared_too_large, no_route, Route, MAX_BODY_BYTES, READ_ONLY_REFUSAL,
};
use kv_sync_core::push::envelope::MAX_PUSH_BYTES;
use kv_sync_core::runtime::Runtime;
use kv_sync_core::settings::push::PushSettings;
use kv_sync_core::settings::syncs::{coordinator_name, sync_names};
use serde_json::json;
use worker::{
    event, Env, Headers, Request, RequestInit, Response, Result, ScheduleContext, ScheduledEvent,
};

use crate::platform::worker_env::WorkerEnv;
use crate::platform::worker_runtime::WorkerRuntime;

/// The dashboard page, joined from src/dashboard/ by build.rs.
const DASHBOARD: &str = include_str!(concat!(env!("OUT_DIR"), "/dashboard.html"));

fn error(status: u16, message: &str) -> Result<Response> {
    Ok(Response::from_json(&json!({"success": false, "error": message}))?.with_status(status))
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: worker::Context) -> Result<Response> {
    let routed = route(req, &WorkerEnv(env)).await?;
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

    /// A `401` names the scheme it wants.
    fn challenged(self) -> Self {
        match self.response.status_code() {
            401 => self.with("WWW-Authenticate", "Bearer"),
            _ => self,
        }
    }

    /// The dashboard hides what a read-only token may not do.
    fn marked(self, access: Access) -> Self {
        match access {
            Access::ReadOnly => self.with("X-KV-Sync-Access", "read-only"),
            Access::Full => self,
        }
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

async fn route(mut req: Request, env: &WorkerEnv) -> Result<Routed> {
    let url = req.url()?;
    let push_on = || PushSettings::read(|name| env.setting(name)).is_some();
    let route = Route::of(url.path()).filter(|r| *r != Route::Push || push_on());
    let Some(route) = route else {
        return Ok(Routed::json(error(404, &no_route(url.path()))?));
    };
    if !route.allows(req.method().as_ref()) {
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
    // A push carries Google's OIDC token, which its coordinator checks.
    let access = match route {
        Route::Push => Access::Full,
        _ => match authorize(&req, env)? {
            Ok(access) => access,
            Err(refused) => return Ok(refused),
        },
    };
    let syncs = match sync_names(|name| env.setting(name)) {
        Ok(syncs) => syncs,
        Err(e) => return Ok(Routed::json(error(500, &e.to_string())?)),
    };
    let query: Vec<_> = url
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    if route == Route::Syncs {
        return Ok(Routed::json(list_syncs(env, &syncs).await?).marked(access));
    }
    let sync = match chosen_sync(&query, &syncs) {
        Ok(sync) => sync,
        Err(message) => return Ok(Routed::json(error(404, &message)?)),
    };
    let response = match route {
        Route::Push => return push(&mut req, env, sync).await,
        Route::Sync => trigger(&mut req, env, access, &query, sync).await?,
        // The key stays percent-encoded on its way.
        Route::Keys => forward(env, sync, url.path(), None).await?,
        _ => forward(env, sync, "/status", None).await?,
    };
    Ok(Routed::json(response).marked(access))
}

/// `GET /syncs`: every sync at a glance, each coordinator asked in parallel.
async fn list_syncs(env: &WorkerEnv, syncs: &[String]) -> Result<Response> {
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
    env: &WorkerEnv,
    access: Access,
    query: &[(String, String)],
    sync: &str,
) -> Result<Response> {
    if access == Access::ReadOnly {
        return error(403, READ_ONLY_REFUSAL);
    }
    if body_within(req, MAX_BODY_BYTES).await?.is_none() {
        return error(413, &format!("request body over {MAX_BODY_BYTES} bytes"));
    }
    match SyncParams::read(query.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(params) => forward(env, sync, "/sync", Some(&params.to_query())).await,
        Err(e) => error(400, &e.to_string()),
    }
}

/// `POST /push`: the body (within Pub/Sub's 10 MiB) and the OIDC token go
/// to the sync's coordinator, which checks the token before anything else.
async fn push(req: &mut Request, env: &WorkerEnv, sync: &str) -> Result<Routed> {
    let Some(body) = body_within(req, MAX_PUSH_BYTES).await? else {
        let message = format!("push body over {MAX_PUSH_BYTES} bytes");
        return Ok(Routed::json(error(413, &message)?));
    };
    let authorization = req.headers().get("Authorization")?;
    let outbound = Outbound {
        body: Some(&String::from_utf8_lossy(&body)),
        authorization: authorization.as_deref(),
    };
    let response = forward_with(env, sync, "/push", None, outbound).await?;
    Ok(Routed::json(response).challenged())
}

/// What a forwarded request carries besides its path.
#[derive(Default)]
struct Outbound<'a> {
    body: Option<&'a str>,
    authorization: Option<&'a str>,
}

/// Passes a request to `sync`'s coordinator, telling it which sync it is.
async fn forward(env: &WorkerEnv, sync: &str, path: &str, query: Option<&str>) -> Result<Response> {
    forward_with(env, sync, path, query, Outbound::default()).await
}

async fn forward_with(
    env: &WorkerEnv,
    sync: &str,
    path: &str,
    query: Option<&str>,
    outbound: Outbound<'_>,
) -> Result<Response> {
    let target = match query {
        Some(q) => format!("https://coordinator{path}?{q}"),
        None => format!("https://coordinator{path}"),
    };
    let headers = Headers::new();
    headers.set(SYNC_HEADER, sync)?;
    if let Some(authorization) = outbound.authorization {
        headers.set("Authorization", authorization)?;
    }
    let mut init = RequestInit::new();
    init.with_headers(headers);
    if let Some(body) = outbound.body {
        init.with_method(worker::Method::Post)
            .with_body(Some(body.into()));
    }
    let request = Request::new_with_init(&target, &init)?;
    let stub = env
        .0
        .durable_object("SYNC_COORDINATOR")?
        .id_from_name(&coordinator_name(sync))?
        .get_stub()?;
    stub.fetch_with_request(request).await
}

/// The bearer's access, or the response that refuses it.
fn authorize(req: &Request, env: &WorkerEnv) -> Result<std::result::Result<Access, Routed>> {
    let secret = env.secret("EVENT_SIGNING_SECRET");
    let status_token = env.secret("STATUS_TOKEN");
    let keys = Keys {
        secret: secret.as_deref(),
        status_token: status_token.as_deref(),
    };
    let verdict = check(req.headers().get("Authorization")?.as_deref(), keys);
    let (status, message) = match admit(verdict) {
        Ok(access) => return Ok(Ok(access)),
        Err(refused) => refused,
    };
    Ok(Err(Routed::json(error(status, message)?).challenged()))
}

/// The body, or `None` when it is over `limit`: a declared length over it
/// is refused unread, and a chunked body (no length) is read only up to one
/// byte past it.
async fn body_within(req: &mut Request, limit: usize) -> Result<Option<Vec<u8>>> {
    let declared = req.headers().get("Content-Length")?;
    if declared.is_some_and(|len| declared_too_large(&len, limit)) {
        return Ok(None);
    }
    let mut body = Vec::new();
    let Ok(mut stream) = req.stream() else {
        return Ok(Some(body));
    };
    while let Some(chunk) = stream.next().await {
        body.extend(chunk?);
        if body.len() > limit {
            return Ok(None);
        }
    }
    Ok(Some(body))
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
    let env = WorkerEnv(env);
    let syncs = match sync_names(|name| env.setting(name)) {
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
