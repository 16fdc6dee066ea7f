//! The services a coordinator talks to over HTTP, as doubles behind the
//! scripted runtime: BigQuery's `jobs.query` and `getQueryResults` over an
//! in-memory table (the wrapped query's window, resume position and order,
//! evaluated from its parameters), Google's token and certificate endpoints, Cloudflare's KV
//! bulk API writing into the same in-memory KV the binding sees, and an
//! alert receiver. Each checks what it receives as the real one would.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde_json::{json, Value};

use kv_sync_core::engine::time::{parse_rfc3339, Micros};
use kv_sync_core::runtime::scripted::Sent;
use kv_sync_core::runtime::{HttpResponse, Method};

use super::memory_kv::MemoryKv;
use super::pubsub::certs_answer;

pub const BIGQUERY: &str = "http://bigquery.test";
pub const TOKEN_URI: &str = "http://oauth.test/token";
pub const CLOUDFLARE: &str = "http://cloudflare.test/client/v4";
pub const ALERTS: &str = "http://alerts.test/hook";
pub const CERTS: &str = "http://oidc.test/certs";

/// The source table: key → (updated_at, name).
#[derive(Default)]
pub struct Table {
    pub rows: BTreeMap<String, (Micros, String)>,
    /// Jobs by id: their result rows, in order.
    jobs: HashMap<String, Vec<(String, Micros, String)>>,
    /// `jobs.query` calls answered so far.
    pub queries: u32,
    /// Answer the next this many BigQuery calls with a 500 backendError.
    pub outage: u32,
    /// Refuse every query that reads the whole table, as BigQuery does when
    /// the unpruned read's ORDER BY exceeds its resources.
    pub full_reads_fail: bool,
}

/// What the doubles saw and how they answer.
#[derive(Default)]
pub struct Services {
    pub table: RefCell<Table>,
    pub kv: MemoryKv,
    /// Bodies the alert receiver accepted.
    pub alerts: RefCell<Vec<Value>>,
    /// The status the alert receiver answers.
    pub alert_status: Cell<u16>,
    pub tokens_minted: Cell<u32>,
    pub bulk_requests: Cell<u32>,
    /// Whether the bulk API takes the token `cf-token` (false: revoked).
    pub bulk_token_valid: Cell<bool>,
    /// How long BigQuery takes to answer with a page of rows.
    pub page_latency: Cell<Micros>,
    /// Fetches of Google's OIDC certificates.
    pub certs_fetched: Cell<u32>,
}

fn answer(status: u16, body: Value) -> HttpResponse {
    HttpResponse {
        status,
        body: body.to_string(),
        ..HttpResponse::default()
    }
}

impl Services {
    pub fn new() -> Rc<Self> {
        Services::sharing(MemoryKv::default())
    }

    /// Services of their own (a source table of their own) over `kv`.
    pub fn sharing(kv: MemoryKv) -> Rc<Self> {
        let services = Services {
            kv,
            ..Services::default()
        };
        services.alert_status.set(200);
        services.bulk_token_valid.set(true);
        Rc::new(services)
    }

    /// Answers one request, as the service it is addressed to.
    pub fn respond(&self, sent: &Sent) -> HttpResponse {
        if sent.url.starts_with(BIGQUERY) {
            return self.bigquery(sent);
        }
        if sent.url == TOKEN_URI {
            assert!(sent
                .body
                .as_deref()
                .unwrap_or_default()
                .contains("assertion="));
            self.tokens_minted.set(self.tokens_minted.get() + 1);
            return answer(
                200,
                json!({"access_token": "ya29.test", "expires_in": 3600}),
            );
        }
        if sent.url.starts_with(CLOUDFLARE) {
            return self.bulk(sent);
        }
        if sent.url == CERTS {
            assert_eq!(sent.method, Method::Get);
            self.certs_fetched.set(self.certs_fetched.get() + 1);
            return certs_answer();
        }
        if sent.url == ALERTS {
            let status = self.alert_status.get();
            if status == 200 {
                let body = serde_json::from_str(sent.body.as_deref().unwrap_or("null"));
                self.alerts
                    .borrow_mut()
                    .push(body.expect("alerts are JSON"));
            }
            return answer(status, json!({}));
        }
        panic!("no service at {}", sent.url)
    }

    fn bigquery(&self, sent: &Sent) -> HttpResponse {
        let mut table = self.table.borrow_mut();
        if table.outage > 0 {
            table.outage -= 1;
            return answer(
                500,
                json!({"error": {"code": 500, "message": "backend error",
                                 "errors": [{"reason": "backendError", "message": "backend error"}]}}),
            );
        }
        if sent.method == Method::Post {
            let body: Value = serde_json::from_str(sent.body.as_deref().unwrap()).unwrap();
            if table.full_reads_fail && table.reads_everything(&body["queryParameters"]) {
                return answer(
                    400,
                    json!({"error": {"code": 400, "message": "Resources exceeded during query execution",
                                     "errors": [{"reason": "resourcesExceeded", "message": "Resources exceeded during query execution"}]}}),
                );
            }
            table.queries += 1;
            let job = format!("job-{}", table.queries);
            let by_key = body["query"]
                .as_str()
                .unwrap()
                .ends_with("ORDER BY key ASC NULLS LAST");
            let rows = table.evaluate(&body["queryParameters"], by_key);
            table.jobs.insert(job.clone(), rows);
            let max = body["maxResults"].as_u64().unwrap_or(10_000) as usize;
            return answer(200, table.page(&job, 0, max));
        }
        let (path, query) = sent.url.split_once('?').unwrap_or((&sent.url, ""));
        let job = path.rsplit('/').next().unwrap().to_string();
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
        };
        let offset = param("pageToken").map_or(0, |t| t.parse().unwrap());
        let max = param("maxResults").map_or(10_000, |m| m.parse().unwrap());
        answer(200, table.page(&job, offset, max))
    }

    /// The KV bulk API of account `acc` with namespace `ns`, answering as
    /// Cloudflare does: a revoked token 403 (code 10000), an unknown
    /// namespace 400 (code 7003).
    fn bulk(&self, sent: &Sent) -> HttpResponse {
        assert_eq!(sent.method, Method::Put, "the bulk API writes with PUT");
        assert!(sent.url.ends_with("/bulk"), "{}", sent.url);
        self.bulk_requests.set(self.bulk_requests.get() + 1);
        let bearer = sent.headers.iter().find(|(n, _)| n == "Authorization");
        if bearer.map(|(_, v)| v.as_str()) != Some("Bearer cf-token")
            || !self.bulk_token_valid.get()
        {
            return answer(
                403,
                json!({"success": false, "errors": [{"code": 10000, "message": "Authentication error"}]}),
            );
        }
        let path = sent.url.trim_start_matches(CLOUDFLARE);
        if path != "/accounts/acc/storage/kv/namespaces/ns/bulk" {
            return answer(
                400,
                json!({"success": false, "errors": [{"code": 7003,
                       "message": format!("Could not route to /client/v4{path}, perhaps your object identifier is invalid?")}]}),
            );
        }
        let pairs: Vec<Value> = serde_json::from_str(sent.body.as_deref().unwrap()).unwrap();
        for pair in &pairs {
            let key = pair["key"].as_str().unwrap();
            self.kv.insert(
                key,
                pair["value"].as_str().unwrap(),
                pair["metadata"].clone(),
            );
        }
        answer(
            200,
            json!({"success": true, "errors": [], "result":
                   {"successful_key_count": pairs.len(), "unsuccessful_keys": []}}),
        )
    }
}

impl Table {
    pub fn upsert(&mut self, key: &str, updated_at: Micros, name: &str) {
        self.rows.insert(key.into(), (updated_at, name.into()));
    }

    /// Whether the query reads the whole table (`@since` is the beginning
    /// of time), not only a window of recent changes.
    fn reads_everything(&self, params: &Value) -> bool {
        params.as_array().unwrap().iter().any(|p| {
            p["name"] == "since"
                && p["parameterValue"]["value"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("0001-"))
        })
    }

    /// The wrapped query over the table: `updated_at >= @since`, strictly
    /// after the resume position, ordered by `(updated_at, key)` or (a full
    /// read, `by_key`) by key.
    fn evaluate(&self, params: &Value, by_key: bool) -> Vec<(String, Micros, String)> {
        let param = |name: &str| {
            params.as_array().unwrap().iter().find_map(|p| {
                (p["name"] == name)
                    .then(|| p["parameterValue"]["value"].as_str().unwrap().to_string())
            })
        };
        let since = parse_rfc3339(&param("since").expect("@since is always passed")).unwrap();
        let after = param("after_updated_at")
            .map(|t| (parse_rfc3339(&t).unwrap(), param("after_key").unwrap()));
        let after_key = param("after_key").filter(|_| by_key);
        let mut rows: Vec<(String, Micros, String)> = self
            .rows
            .iter()
            .filter(|(_, (at, _))| *at >= since)
            .filter(|(key, (at, _))| after.as_ref().is_none_or(|(t, k)| (*at, *key) > (*t, k)))
            .filter(|(key, _)| after_key.as_ref().is_none_or(|k| *key > k))
            .map(|(key, (at, name))| (key.clone(), *at, name.clone()))
            .collect();
        if !by_key {
            rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        }
        rows
    }

    /// One page of a job's results, from `offset`.
    fn page(&self, job: &str, offset: usize, max: usize) -> Value {
        let rows = &self.jobs[job];
        let end = (offset + max).min(rows.len());
        let f: Vec<Value> = rows[offset..end]
            .iter()
            .map(|(key, at, name)| json!({"f": [{"v": key}, {"v": at.to_string()}, {"v": name}]}))
            .collect();
        let mut page = json!({
            "jobReference": {"projectId": "test", "jobId": job, "location": "US"},
            "jobComplete": true,
            "totalRows": rows.len().to_string(),
            "schema": {"fields": [
                {"name": "key", "type": "STRING"},
                {"name": "updated_at", "type": "TIMESTAMP"},
                {"name": "name", "type": "STRING"}
            ]},
            "rows": f,
        });
        if end < rows.len() {
            page["pageToken"] = json!(end.to_string());
        }
        page
    }
}
