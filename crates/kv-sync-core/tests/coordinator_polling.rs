//! Fast polling (SPEC "Live sync"): a 10-second interval is allowed and a
//! shorter one is a configuration error; an idle run repeats its query to
//! the letter, so BigQuery can answer from its cache, and writes little.

mod support;

use serde_json::Value;

use kv_sync_core::engine::time::MICROS_PER_SECOND;
use kv_sync_core::store::sql::Sql;
use support::deployment::Deployment;
use support::services::BIGQUERY;

const S: i64 = MICROS_PER_SECOND;

/// The bodies of the `jobs.query` calls sent so far.
fn queries(d: &Deployment) -> Vec<Value> {
    d.runtime()
        .sent
        .borrow()
        .iter()
        .filter(|s| s.url.starts_with(BIGQUERY) && s.url.ends_with("/queries"))
        .map(|s| serde_json::from_str(s.body.as_deref().unwrap()).unwrap())
        .collect()
}

/// Lets the alarm run the next scheduled run, one interval on.
fn next_run(d: &Deployment) {
    d.advance(10 * S);
    d.settle(0);
}

#[test]
fn idle_polls_every_ten_seconds_send_the_very_same_query_and_parameters() {
    // Given a 10 s interval whose first run has completed
    let d = Deployment::new(&[("SYNC_INTERVAL_SECONDS", "10")]);
    d.leads(&[("a", -30, "Ada")]);
    d.webhook(&[]);
    // When two runs find nothing new
    next_run(&d);
    next_run(&d);
    // Then they ask BigQuery the same thing, cache on, in short query mode
    let sent = queries(&d);
    assert_eq!(sent.len(), 3, "three runs, three queries");
    let asked = |b: &Value| (b["query"].clone(), b["queryParameters"].clone());
    assert_eq!(asked(&sent[1]), asked(&sent[2]));
    assert_ne!(sent[2]["useQueryCache"], false);
    assert_eq!(sent[2]["jobCreationMode"], "JOB_CREATION_OPTIONAL");
    assert_eq!(d.status()["last_run"]["rows_written"], 0);
    // And once a new row moved the cursor, the query asks from there
    d.leads(&[("b", 15, "Bo")]);
    next_run(&d);
    assert_eq!(d.services.kv.keys(), vec!["a", "b"]);
    next_run(&d);
    assert_ne!(asked(&queries(&d)[4]), asked(&sent[2]));
}

#[test]
fn an_idle_run_writes_eleven_storage_rows_at_most() {
    // (15 before the run was inserted with its checkpoint, ended in one
    // statement per row, and a whole first page stopped checkpointing its
    // job; one of the 11 adds the run to its hour's cost. At 10 s, 8,640
    // runs a day.)
    let d = Deployment::new(&[("SYNC_INTERVAL_SECONDS", "10")]);
    d.leads(&[("a", -30, "Ada")]);
    d.webhook(&[]);
    next_run(&d);
    let before = d.storage.rows_counted();
    next_run(&d);
    let written = (d.storage.rows_counted() - before).written;
    assert!(written <= 11, "an idle run wrote {written} rows");
}

#[test]
fn an_interval_under_ten_seconds_is_a_configuration_error() {
    let d = Deployment::new(&[("SYNC_INTERVAL_SECONDS", "5")]);
    let error = d.status()["config_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("SYNC_INTERVAL_SECONDS") && error.contains("from 10"),
        "{error}"
    );
    assert_eq!(
        Deployment::new(&[("SYNC_INTERVAL_SECONDS", "10")]).status()["config_error"],
        Value::Null
    );
}
