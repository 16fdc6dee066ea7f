//! The real coordinator and the services around it: alert delivery and its
//! retry, the cached BigQuery token, the KV bulk API's request budget, and
//! the dry run — each across invocations and restarts of the object.

mod support;

use serde_json::{json, Value};

use kv_sync_core::bigquery::test_keys::{random_bytes, service_account_json};
use kv_sync_core::engine::time::MICROS_PER_SECOND;
use kv_sync_core::runtime::Method;
use support::deployment::Deployment;
use support::services::{ALERTS, BIGQUERY, CLOUDFLARE, TOKEN_URI};

const S: i64 = MICROS_PER_SECOND;

#[test]
fn a_failing_sync_alerts_once_and_an_undelivered_alert_is_retried_later() {
    // Given alerts after one failed run, and a receiver that is down
    let d = Deployment::new(&[("ALERT_WEBHOOK_URL", ALERTS), ("ALERT_AFTER_FAILURES", "1")]);
    d.leads(&[("a", -30, "Ada")]);
    d.services.alert_status.set(503);
    d.services.table.borrow_mut().outage = 100;
    // When a run fails
    d.webhook(&[]);
    // then the alert waits, visibly, and nothing was accepted
    assert!(d.services.alerts.borrow().is_empty());
    assert_eq!(d.status()["alerts"]["pending"], 1);
    // and when the receiver is back, the next alarm delivers it, once.
    d.services.alert_status.set(200);
    d.fire_alarm();
    let alerts = d.services.alerts.borrow().clone();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kv_sync"]["event"], "failing");
    assert_eq!(d.status()["alerts"]["pending"], 0);
    d.fire_alarm();
    assert_eq!(d.services.alerts.borrow().len(), 1, "one alert per episode");
}

#[test]
fn the_access_token_is_minted_once_and_kept_across_runs_and_restarts() {
    let key = service_account_json(&random_bytes(64), "sync@proj.iam", TOKEN_URI);
    let mut d = Deployment::with_secrets(&[], &[("BIGQUERY_CREDENTIALS", &key)]);
    d.leads(&[("a", -30, "Ada")]);
    d.webhook(&[]);
    d.advance(60 * S);
    d.webhook(&[]);
    assert_eq!(d.services.tokens_minted.get(), 1);
    // A restarted object reads the token from storage.
    d.restart();
    d.advance(60 * S);
    d.webhook(&[]);
    assert_eq!(d.services.tokens_minted.get(), 1);
    let sent = d.runtime().sent.borrow();
    let query = sent
        .iter()
        .rev()
        .find(|s| s.url.contains("/queries"))
        .unwrap();
    let bearer = query.headers.iter().find(|(n, _)| n == "Authorization");
    assert_eq!(bearer.map(|(_, v)| v.as_str()), Some("Bearer ya29.test"));
    assert_eq!(d.services.kv.get("a"), Some(json!({"name": "Ada"})));
}

const BULK: &[(&str, &str)] = &[
    ("CLOUDFLARE_ACCOUNT_ID", "acc"),
    ("KV_NAMESPACE_ID", "ns"),
    ("CLOUDFLARE_API_BASE", CLOUDFLARE),
    ("BULK_MIN_ROWS", "0"),
];

#[test]
fn bulk_requests_are_counted_against_the_token_across_restarts() {
    let mut d = Deployment::with_secrets(BULK, &[("CLOUDFLARE_API_TOKEN", "cf-token")]);
    d.leads(&[("a", -30, "Ada")]);
    d.webhook(&[]);
    assert_eq!(d.services.bulk_requests.get(), 1);
    assert_eq!(*d.services.kv.binding_writes.borrow(), 0);
    assert_eq!(d.services.kv.get("a"), Some(json!({"name": "Ada"})));
    // A restarted object in the same window counts what the last one sent.
    d.restart();
    d.advance(10 * S);
    d.leads(&[("b", 5, "Bob")]);
    d.webhook(&[]);
    assert_eq!(d.services.bulk_requests.get(), 2);
    let sent = d.coordinator.store().bulk_requests().unwrap();
    assert_eq!(sent.len(), 2, "both requests are in the token's window");
}

#[test]
fn a_dry_run_plans_against_the_source_and_writes_nothing() {
    let d = Deployment::new(&[]);
    d.leads(&[("a", -30, "Ada")]);
    d.leads(&[("b", -20, "Bob")]);
    let (status, body) = d.webhook(&[("dry_run", "true")]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["plan"]["rows_read"], 2, "{body}");
    assert!(d.services.kv.keys().is_empty());
    assert!(d.coordinator.store().recent_runs(1).unwrap().is_empty());
    assert_eq!(d.coordinator.store().state().unwrap().cursor, None);
}

#[test]
fn a_bulk_api_that_refuses_requests_as_a_whole_sends_the_run_through_the_binding() {
    // Given a sync on the bulk path whose namespace id is wrong
    let mut vars = BULK.to_vec();
    vars.retain(|(name, _)| *name != "KV_NAMESPACE_ID");
    vars.extend([("KV_NAMESPACE_ID", "not-ns"), ("ALERT_WEBHOOK_URL", ALERTS)]);
    let mut d = Deployment::with_secrets(&vars, &[("CLOUDFLARE_API_TOKEN", "cf-token")]);
    for (i, key) in ["a", "b", "c"].iter().enumerate() {
        d.leads(&[(key, -30 + i as i64, "Ada")]);
    }
    // When it runs
    let (code, answer) = d.webhook(&[]);
    // Then one bulk request was refused, and every row went through the
    // binding: none quarantined, the run completed with a warning that
    // quotes the API, and one `degraded` alert
    assert_eq!(code, 202, "paused, then continued: {answer}");
    d.settle(0);
    let s = d.status();
    let run = &s["last_run"];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        (run["rows_written"].as_u64(), run["rows_failed"].as_u64()),
        (Some(3), Some(0))
    );
    assert_eq!(run["kv_path"], "binding", "{run}");
    assert!(
        run["warning"]
            .as_str()
            .is_some_and(|w| w.contains("code 7003")),
        "{run}"
    );
    assert_eq!(s["failed_rows"]["count"], 0, "{s}");
    assert_eq!(
        d.services.bulk_requests.get(),
        1,
        "not halved down to single keys"
    );
    assert_eq!(*d.services.kv.binding_writes.borrow(), 3);
    let events = |d: &Deployment| -> Vec<String> {
        d.services
            .alerts
            .borrow()
            .iter()
            .map(|a| a["kv_sync"]["event"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(events(&d), vec!["degraded"]);
    // And a revoked token is the same episode: no second alert
    d.redeploy(&[("KV_NAMESPACE_ID", "ns")]);
    d.services.bulk_token_valid.set(false);
    d.leads(&[("d", 5, "Dee")]);
    d.advance(600 * S);
    d.webhook(&[]);
    d.settle(0);
    assert_eq!(d.services.kv.get("d"), Some(json!({"name": "Dee"})));
    assert_eq!(d.status()["last_run"]["status"], "completed");
    assert_eq!(events(&d), vec!["degraded"]);
    // When the token works again, the next run writes through the bulk API
    // and the episode ends
    d.services.bulk_token_valid.set(true);
    d.leads(&[("e", 10, "Eve")]);
    d.advance(600 * S);
    d.webhook(&[]);
    d.settle(0);
    let run = &d.status()["last_run"];
    assert_eq!(
        (run["kv_path"].as_str(), run["warning"].as_str()),
        (Some("bulk"), None),
        "{run}"
    );
    assert_eq!(events(&d), vec!["degraded", "recovered"]);
}

#[test]
fn a_query_retried_after_an_error_carries_the_same_request_id() {
    // Given BigQuery failing the first jobs.query
    let d = Deployment::new(&[]);
    d.leads(&[("a", -30, "Ada")]);
    d.services.table.borrow_mut().outage = 1;
    // When the run starts its job
    let (code, answer) = d.webhook(&[]);
    assert_eq!(code, 200, "{answer}");
    // Then the retry is the same request, so BigQuery makes one job of it
    let ids: Vec<Value> = d
        .runtime()
        .sent
        .borrow()
        .iter()
        .filter(|s| s.url.starts_with(BIGQUERY) && s.method == Method::Post)
        .map(|s| {
            serde_json::from_str::<Value>(s.body.as_deref().unwrap()).unwrap()["requestId"].clone()
        })
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        ids[0].as_str().is_some_and(|id| id.starts_with("kv-sync-")),
        "{ids:?}"
    );
    assert_eq!(ids[0], ids[1]);
}
