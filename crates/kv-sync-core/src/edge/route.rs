//! Routing: `/sync-kv-now`, `/status`, `/push`, `/keys/KEY` (each for
//! `?sync=NAME`),
//! `/syncs` and `/dashboard`, the methods each takes, and which sync a
//! request is for.

use super::auth::{Access, Verdict};
use crate::engine::excerpt::excerpt;
use crate::settings::syncs::DEFAULT_SYNC;

/// Webhook bodies are small JSON notes from n8n or BigQuery; anything larger
/// is a mistake or an attack, and is not read past this size.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The routes, and the methods each really takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Sync,
    Status,
    /// Pub/Sub push deliveries: there only when `PUSH_AUDIENCE` is set,
    /// and authenticated by their OIDC token, not the webhook bearer.
    Push,
    /// `/keys/KEY`: what kv-sync knows of one key.
    Keys,
    Syncs,
    Dashboard,
}

impl Route {
    pub fn of(path: &str) -> Option<Route> {
        match path {
            "/sync-kv-now" => Some(Route::Sync),
            "/status" => Some(Route::Status),
            "/syncs" => Some(Route::Syncs),
            "/push" => Some(Route::Push),
            "/dashboard" | "/dashboard/" => Some(Route::Dashboard),
            _ if path.starts_with("/keys/") => Some(Route::Keys),
            _ => None,
        }
    }

    /// The `Allow` header's value.
    pub fn allow(self) -> &'static str {
        match self {
            Route::Sync | Route::Push => "POST",
            Route::Status | Route::Syncs | Route::Keys | Route::Dashboard => "GET, HEAD",
        }
    }

    /// Whether the route takes `method` (upper case, as HTTP spells it).
    pub fn allows(self, method: &str) -> bool {
        match self {
            Route::Sync | Route::Push => method == "POST",
            _ => matches!(method, "GET" | "HEAD"),
        }
    }
}

/// The answer for a path no route serves.
pub fn no_route(path: &str) -> String {
    format!("no route for {path}; see /dashboard, /status, /syncs, /sync-kv-now")
}

/// What the bearer may do, or why it is refused: the status and the
/// message (a 401 also asks for a bearer with `WWW-Authenticate`).
pub fn admit(verdict: Verdict) -> Result<Access, (u16, &'static str)> {
    match verdict {
        Verdict::Allowed(access) => Ok(access),
        Verdict::NotConfigured => Err((
            503,
            "EVENT_SIGNING_SECRET is not configured; set it with `wrangler secret put EVENT_SIGNING_SECRET`",
        )),
        Verdict::Missing => Err((
            401,
            "missing bearer token: send Authorization: Bearer <token>",
        )),
        Verdict::Wrong => Err((401, "invalid bearer token")),
    }
}

/// What a read-only token gets from `POST /sync-kv-now`.
pub const READ_ONLY_REFUSAL: &str =
    "this token may only read /status; starting a sync needs EVENT_SIGNING_SECRET";

/// Whether a declared `Content-Length` is over `limit` (or unreadable).
pub fn declared_too_large(content_length: &str, limit: usize) -> bool {
    !matches!(content_length.trim().parse::<usize>(), Ok(n) if n <= limit)
}

/// The sync `?sync=NAME` names (none: the default one), among `syncs`.
pub fn chosen_sync<'a>(query: &[(String, String)], syncs: &'a [String]) -> Result<&'a str, String> {
    let name = query
        .iter()
        .find(|(k, _)| k == "sync")
        .map_or(DEFAULT_SYNC, |(_, v)| v.as_str());
    syncs
        .iter()
        .find(|s| *s == name)
        .map(String::as_str)
        .ok_or_else(|| {
            format!(
                "no sync named {:?}; the syncs are {}",
                excerpt(name, 40),
                syncs.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_takes_its_methods_only() {
        assert_eq!(Route::of("/dashboard/"), Some(Route::Dashboard));
        assert_eq!(Route::of("/sync"), None);
        assert_eq!(Route::of("/keys/lead%3A1"), Some(Route::Keys));
        assert_eq!(Route::of("/keys"), None);
        assert!(Route::Sync.allows("POST") && !Route::Sync.allows("GET"));
        assert!(Route::Status.allows("HEAD") && !Route::Status.allows("POST"));
    }

    #[test]
    fn the_sync_is_chosen_among_the_configured_ones() {
        let syncs = vec!["default".to_string(), "companies".to_string()];
        let ask = |v: &str| vec![("sync".to_string(), v.to_string())];
        assert_eq!(chosen_sync(&[], &syncs), Ok("default"));
        assert_eq!(chosen_sync(&ask("companies"), &syncs), Ok("companies"));
        let e = chosen_sync(&ask("nope"), &syncs).unwrap_err();
        assert!(e.contains("default, companies"), "{e}");
    }

    #[test]
    fn a_body_is_too_large_past_the_limit_or_unreadable() {
        assert!(!declared_too_large("16384", MAX_BODY_BYTES));
        assert!(declared_too_large("16385", MAX_BODY_BYTES));
        assert!(declared_too_large("lots", MAX_BODY_BYTES));
    }
}
