//! The real coordinator, driven through its entry points — the alarm and
//! the webhook — over SQLite, the scripted runtime and an in-memory KV.
//! Each test says what a user depends on: what KV holds, what `/status`
//! and the webhook answer, and that an alarm is always armed.

mod support;

use serde_json::json;

use kv_sync_core::engine::time::MICROS_PER_SECOND;
use support::deployment::{Deployment, START};

const S: i64 = MICROS_PER_SECOND;

#[test]
fn the_first_alarm_mirrors_the_source_and_arms_the_next() {
    // Given a fresh object with three leads in the source
    let d = Deployment::new(&[]);
    d.leads(&[("a", -30, "Ada"), ("b", -20, "Bob"), ("c", -10, "Cy")]);
    // When any request reaches it, it arms its first alarm
    d.status();
    assert_eq!(d.alarm_at(), Some(START + 300 * S));
    // and when that alarm fires
    d.fire_alarm();
    // then KV holds every lead, and the next run is armed one interval on
    assert_eq!(d.services.kv.get("a"), Some(json!({"name": "Ada"})));
    assert_eq!(d.services.kv.keys(), vec!["a", "b", "c"]);
    let status = d.status();
    assert_eq!(status["last_run"]["status"], "completed", "{status}");
    assert_eq!(d.alarm_at(), Some(d.now() + 300 * S));
}

#[test]
fn a_repeated_alarm_sleeps_until_the_schedule_then_reads_only_changes() {
    let d = Deployment::new(&[]);
    d.leads(&[("a", -30, "Ada")]);
    d.status();
    d.fire_alarm();
    let queries = d.services.table.borrow().queries;
    // An early alarm (a watchdog's) sleeps until the scheduled time.
    let scheduled = d.alarm_at().unwrap();
    d.storage.alarm.set(Some(d.now() + S));
    d.fire_alarm();
    assert_eq!(d.services.table.borrow().queries, queries, "no query");
    assert_eq!(d.alarm_at(), Some(scheduled));
    // At the scheduled time, a changed lead reaches KV.
    d.leads(&[("a", 200, "Ada L.")]);
    d.fire_alarm();
    assert_eq!(d.services.kv.get("a"), Some(json!({"name": "Ada L."})));
    assert_eq!(d.services.kv.binding_writes.borrow().to_owned(), 2);
}

#[test]
fn a_failed_run_is_retried_by_the_alarm_and_shown_until_it_succeeds() {
    // Given BigQuery down for longer than one invocation retries
    let d = Deployment::new(&[]);
    d.leads(&[("a", -30, "Ada")]);
    d.status();
    d.services.table.borrow_mut().outage = 100;
    d.fire_alarm();
    // then the run failed visibly, and a retry is armed before the schedule
    let status = d.status();
    assert_eq!(status["last_run"]["status"], "failed", "{status}");
    assert!(status["last_run"]["error"]
        .as_str()
        .unwrap()
        .contains("backend error"));
    let retry = d.alarm_at().unwrap();
    assert!(
        retry < d.now() + 300 * S,
        "a retry comes before the schedule"
    );
    // When BigQuery is back, the retry mirrors the source.
    d.services.table.borrow_mut().outage = 0;
    d.fire_alarm();
    assert_eq!(d.services.kv.get("a"), Some(json!({"name": "Ada"})));
    assert_eq!(d.status()["last_run"]["status"], "completed");
}

#[test]
fn an_idle_webhook_runs_inside_the_request() {
    let d = Deployment::new(&[]);
    d.leads(&[("a", -30, "Ada"), ("b", -20, "Bob")]);
    let (status, body) = d.webhook(&[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(d.services.kv.keys(), vec!["a", "b"]);
    assert!(d.alarm_at().is_some(), "an alarm stays armed");
}

#[test]
fn a_webhook_without_wait_answers_at_once_and_the_alarm_does_the_work() {
    let d = Deployment::new(&[]);
    d.leads(&[("a", -30, "Ada")]);
    let (status, body) = d.webhook(&[("wait", "false")]);
    assert_eq!(status, 202, "{body}");
    assert!(d.services.kv.keys().is_empty(), "nothing written yet");
    assert_eq!(d.alarm_at(), Some(d.now()), "the alarm is due at once");
    d.fire_alarm();
    assert_eq!(d.services.kv.keys(), vec!["a"]);
}

/// A deployment whose runs take several invocations (one KV write each).
fn slow_deployment() -> Deployment {
    let d = Deployment::new(&[("MAX_KV_WRITES_PER_INVOCATION", "1")]);
    d.leads(&[("a", -30, "Ada"), ("b", -20, "Bob"), ("c", -10, "Cy")]);
    d
}

#[test]
fn webhooks_while_busy_coalesce_into_one_follow_up_that_runs_next() {
    // Given a run in progress
    let d = slow_deployment();
    let (_, first) = d.webhook(&[]);
    assert_eq!(first["run"]["status"], "running", "{first}");
    // When two webhooks arrive, one for a full read, one for a rewrite
    let (status, queued) = d.webhook(&[("full", "true")]);
    assert_eq!(status, 202, "{queued}");
    d.webhook(&[("rewrite", "true")]);
    let follow_up = d.coordinator.store().state().unwrap().follow_up.unwrap();
    assert!(follow_up.full && follow_up.rewrite, "both asks kept");
    // Then the alarms finish the run, start the follow-up (emptying the
    // queue), and finish that one too.
    d.settle(0);
    assert_eq!(d.coordinator.store().state().unwrap().follow_up, None);
    let runs = d.coordinator.store().recent_runs(5).unwrap();
    assert_eq!(runs.len(), 2, "the webhooks made one follow-up run");
    assert!(runs[0].full, "the follow-up read the whole source");
    assert_eq!(d.services.kv.keys(), vec!["a", "b", "c"]);
}

#[test]
fn a_lost_holder_is_taken_over_once_its_lease_lapses() {
    // Given a run whose invocation took the lease and died
    let d = slow_deployment();
    d.webhook(&[("wait", "false")]);
    let run = d.coordinator.store().state().unwrap().active_run.unwrap();
    let lease = d
        .coordinator
        .store()
        .acquire_lease(run, d.now(), 60 * S)
        .unwrap()
        .unwrap();
    // When the alarm fires while the lease is live, it waits for it
    d.fire_alarm();
    assert_eq!(d.alarm_at(), Some(lease.expires_at));
    assert!(d.services.kv.keys().is_empty());
    // and once it lapses, takes the run over and finishes it.
    d.settle(0);
    assert_eq!(d.services.kv.keys(), vec!["a", "b", "c"]);
    assert_eq!(d.status()["last_run"]["status"], "completed");
}

#[test]
fn a_configuration_error_names_the_variable_and_fails_every_run() {
    let d = Deployment::new(&[("SYNC_INTERVAL_SECONDS", "5m")]);
    let (status, body) = d.webhook(&[]);
    assert_eq!(status, 502, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("SYNC_INTERVAL_SECONDS"));
    let status = d.status();
    assert!(status["config_error"].as_str().unwrap().contains("\"5m\""));
    assert!(d.alarm_at().is_some(), "an alarm stays armed");
}

#[test]
fn a_missing_binding_or_project_is_a_run_error_that_says_what_to_set() {
    let mut d = Deployment::new(&[(
        "SYNCS",
        r#"[{"name": "companies", "query": "SELECT 1", "kv_binding": "NOPE"}]"#,
    )]);
    d.sync = "companies".into();
    let (_, body) = d.webhook(&[]);
    assert!(body["error"].as_str().unwrap().contains("NOPE"), "{body}");
    let d = Deployment::new(&[("BIGQUERY_PROJECT_ID", "")]);
    let (_, body) = d.webhook(&[]);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("BIGQUERY_PROJECT_ID"),
        "{body}"
    );
}

#[test]
fn a_bad_flag_is_refused_before_anything_runs() {
    let d = Deployment::new(&[]);
    let (status, body) = d.webhook(&[("full", "maybe")]);
    assert_eq!(status, 400, "{body}");
    assert_eq!(d.coordinator.store().recent_runs(1).unwrap().len(), 0);
}

#[test]
fn a_full_read_that_fails_part_way_is_resumed_not_restarted() {
    // Given a first (full) read that wrote one key, then lost BigQuery
    let d = Deployment::new(&[
        ("MAX_KV_WRITES_PER_INVOCATION", "1"),
        ("BIGQUERY_PAGE_ROWS", "1"),
    ]);
    d.leads(&[("a", -30, "Ada"), ("b", -20, "Bob"), ("c", -10, "Cy")]);
    d.webhook(&[("wait", "false")]);
    d.fire_alarm();
    assert_eq!(d.services.kv.keys(), vec!["a"]);
    d.services.table.borrow_mut().outage = 100;
    for _ in 0..3 {
        d.fire_alarm();
    }
    let s = d.status();
    assert_eq!(s["last_run"]["status"], "failed", "{s}");
    assert_eq!(
        d.services.kv.keys(),
        vec!["a", "b"],
        "the page read ahead was written"
    );
    // When BigQuery is back, the retry takes up the same job where it
    // stopped: no new query, and the first key is not read again.
    d.services.table.borrow_mut().outage = 0;
    d.fire_alarm();
    d.settle(0);
    assert_eq!(d.services.kv.keys(), vec!["a", "b", "c"]);
    assert_eq!(
        d.services.table.borrow().queries,
        1,
        "one job for the whole read"
    );
    let last = &d.status()["last_run"];
    assert_eq!(last["status"], "completed");
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("resumes the full read of run 1"),
        "{last}"
    );
    assert_eq!(
        *d.services.kv.binding_writes.borrow(),
        3,
        "no key written twice"
    );
}
