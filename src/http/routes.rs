//! Routing: `/sync-kv-now`, `/status`, `/dashboard`, and the cron trigger.

use serde_json::json;
use worker::{
    event, Env, Headers, Method, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

use super::auth::{check, Verdict};
use crate::coordinator::INSTANCE;
use crate::runtime::worker::WorkerRuntime;
use crate::runtime::Runtime;

/// Webhook bodies are small JSON notes from n8n or BigQuery; anything larger
/// is a mistake or an attack.
const MAX_BODY_BYTES: usize = 16 * 1024;

const DASHBOARD: &str = include_str!("dashboard.html");

fn error(status: u16, message: &str) -> Result<Response> {
    Ok(Response::from_json(&json!({"success": false, "error": message}))?.with_status(status))
}

fn method_not_allowed(allow: &str) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Allow", allow)?;
    Ok(error(405, &format!("method not allowed; use {allow}"))?.with_headers(headers))
}

/// A route that reaches the coordinator: the methods it takes, and its path
/// on the coordinator.
struct Forward {
    allow: &'static str,
    coordinator_path: &'static str,
}

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: worker::Context) -> Result<Response> {
    let url = req.url()?;
    let forward = match url.path() {
        "/sync-kv-now" => Forward {
            allow: "POST",
            coordinator_path: "/sync",
        },
        "/status" => Forward {
            allow: "GET",
            coordinator_path: "/status",
        },
        "/dashboard" | "/dashboard/" => return dashboard(&req),
        other => {
            return error(
                404,
                &format!("no route for {other}; see /dashboard, /status, /sync-kv-now"),
            )
        }
    };
    let method_ok = match forward.allow {
        "POST" => req.method() == Method::Post,
        _ => matches!(req.method(), Method::Get | Method::Head),
    };
    if !method_ok {
        return method_not_allowed(forward.allow);
    }
    if let Some(refused) = authorize(&req, &env)? {
        return Ok(refused);
    }
    if forward.allow == "POST" && body_too_large(&mut req).await? {
        return error(413, &format!("request body over {MAX_BODY_BYTES} bytes"));
    }
    let target = match url.query() {
        Some(q) => format!("https://coordinator{}?{q}", forward.coordinator_path),
        None => format!("https://coordinator{}", forward.coordinator_path),
    };
    let stub = env
        .durable_object("SYNC_COORDINATOR")?
        .id_from_name(INSTANCE)?
        .get_stub()?;
    stub.fetch_with_str(&target).await
}

fn dashboard(req: &Request) -> Result<Response> {
    match req.method() {
        Method::Get | Method::Head => Response::from_html(DASHBOARD),
        _ => method_not_allowed("GET"),
    }
}

/// The refusal for a request without the right bearer, or `None`.
fn authorize(req: &Request, env: &Env) -> Result<Option<Response>> {
    let secret = env
        .secret("EVENT_SIGNING_SECRET")
        .ok()
        .map(|s| s.to_string());
    let message = match check(req.headers().get("Authorization")?.as_deref(), secret.as_deref()) {
        Verdict::Allowed => return Ok(None),
        Verdict::NotConfigured => {
            return error(
                503,
                "EVENT_SIGNING_SECRET is not configured; set it with `wrangler secret put EVENT_SIGNING_SECRET`",
            )
            .map(Some)
        }
        Verdict::Missing => "missing bearer token: send Authorization: Bearer <EVENT_SIGNING_SECRET>",
        Verdict::Wrong => "invalid bearer token",
    };
    let headers = Headers::new();
    headers.set("WWW-Authenticate", "Bearer")?;
    Ok(Some(error(401, message)?.with_headers(headers)))
}

/// Checks the declared length first, then the bytes themselves (a chunked
/// body has no length header).
async fn body_too_large(req: &mut Request) -> Result<bool> {
    if let Some(len) = req.headers().get("Content-Length")? {
        if !matches!(len.trim().parse::<usize>(), Ok(n) if n <= MAX_BODY_BYTES) {
            return Ok(true);
        }
    }
    Ok(req.bytes().await.is_ok_and(|b| b.len() > MAX_BODY_BYTES))
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    // The cron trigger only re-arms a lost alarm; the alarm does the work.
    let result = async {
        let stub = env
            .durable_object("SYNC_COORDINATOR")?
            .id_from_name(INSTANCE)?
            .get_stub()?;
        stub.fetch_with_str("https://coordinator/ensure-alarm")
            .await
    }
    .await;
    if let Err(e) = result {
        WorkerRuntime.log(&json!({"event": "cron_error", "error": e.to_string()}));
    }
}
