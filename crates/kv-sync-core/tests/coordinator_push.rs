//! `POST /push` through the real coordinator (SPEC "Live sync"): rows
//! Pub/Sub delivers, typed as the pull types them, newest first per key,
//! written before they are acknowledged; given/when/then.

mod support;

use serde_json::{json, Value};

use kv_sync_core::engine::time::{to_rfc3339, MICROS_PER_SECOND};
use support::deployment::{Deployment, START};
use support::pubsub::{claims, envelope, token, PUSH_VARS};

const S: i64 = MICROS_PER_SECOND;

/// A deployment with `/push` on whose first pull has completed.
fn pulled() -> Deployment {
    let d = Deployment::new(PUSH_VARS);
    d.leads(&[("a", -30, "Ada")]);
    let (code, answer) = d.webhook(&[]);
    assert_eq!(code, 200, "{answer}");
    d
}

/// A row as `TO_JSON_STRING` renders it, stamped `at` seconds from START.
fn row(key: &str, at: i64, name: &str) -> Value {
    json!({"key": key, "updated_at": to_rfc3339(START + at * S), "name": name})
}

fn bearer(d: &Deployment) -> String {
    format!("Bearer {}", token(&claims(d.now()), "google-1"))
}

/// Pushes `row` with a valid token; the status and the outcome.
fn push(d: &Deployment, row: &Value) -> (u16, String) {
    let (code, answer) = d.push(Some(&bearer(d)), &envelope(row));
    let said = answer["outcome"].as_str().or(answer["error"].as_str());
    (code, said.unwrap_or_default().to_string())
}

fn kv_name(d: &Deployment, key: &str) -> Option<Value> {
    d.services.kv.get(key).map(|v| v["name"].clone())
}

#[test]
fn a_pushed_row_is_written_as_the_pull_writes_it_and_the_next_pull_writes_nothing() {
    // Given a sync with /push on and no completed pull
    let d = Deployment::new(PUSH_VARS);
    d.leads(&[("a", -30, "Ada")]);
    let (code, said) = push(&d, &row("b", 5, "Bo"));
    assert_eq!(
        (code, said.contains("no pull has completed")),
        (503, true),
        "{said}"
    );
    let (code, answer) = d.webhook(&[]);
    assert_eq!(code, 200, "{answer}");
    // When a row arrives by push before the pull has seen it
    d.advance(10 * S);
    assert_eq!(push(&d, &row("b", 5, "Bo")), (200, "written".into()));
    // Then KV holds it as the pull would write it
    assert_eq!(d.services.kv.get("b"), Some(json!({"name": "Bo"})));
    let metadata = d.services.kv.metadata("b").expect("b has metadata");
    assert_eq!(metadata["updated_at"], to_rfc3339(START + 5 * S));
    // And the pull that reads the row next writes nothing
    d.leads(&[("b", 5, "Bo")]);
    d.advance(S);
    d.webhook(&[]);
    let last = &d.status()["last_run"];
    assert_eq!(
        (last["rows_written"].as_u64(), last["rows_read"].as_u64()),
        (Some(0), Some(2)),
        "{last}"
    );
    let pushed = &d.status()["push"];
    assert_eq!(
        (pushed["received"].as_u64(), pushed["written"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(pushed["last_at"], to_rfc3339(START + 10 * S));
}

#[test]
fn per_key_the_newest_wins_redeliveries_change_nothing_and_a_changes_delete_deletes() {
    let d = pulled();
    assert_eq!(push(&d, &row("b", 10, "new")), (200, "written".into()));
    // Older versions, and the same one again, change nothing
    assert_eq!(push(&d, &row("b", 5, "old")), (200, "stale".into()));
    assert_eq!(push(&d, &row("b", 10, "new")), (200, "unchanged".into()));
    let mut old_delete = row("b", 5, "old");
    old_delete["_CHANGE_TYPE"] = json!("DELETE");
    assert_eq!(push(&d, &old_delete), (200, "stale".into()));
    assert_eq!(kv_name(&d, "b"), Some(json!("new")));
    // A CHANGES() delete of the version written deletes it
    d.advance(2 * S);
    let mut delete = row("b", 10, "new");
    delete["_CHANGE_TYPE"] = json!("DELETE");
    delete["_CHANGE_TIMESTAMP"] = json!(to_rfc3339(START + 12 * S));
    assert_eq!(push(&d, &delete), (200, "deleted".into()));
    assert_eq!(d.services.kv.get("b"), None);
    // And its insert, delivered again afterwards, does not bring it back
    assert_eq!(push(&d, &row("b", 10, "new")), (200, "stale".into()));
    assert_eq!(d.services.kv.get("b"), None);
    let pushed = &d.status()["push"];
    let counts: Vec<u64> = [
        "received",
        "written",
        "deleted",
        "unchanged",
        "stale",
        "failed",
    ]
    .iter()
    .map(|c| pushed[c].as_u64().unwrap())
    .collect();
    assert_eq!(counts, vec![6, 1, 1, 1, 3, 0], "{pushed}");
}

#[test]
fn a_burst_for_one_key_writes_once_a_second_and_ends_with_the_newest() {
    let d = pulled();
    assert_eq!(push(&d, &row("b", 1, "one")), (200, "written".into()));
    // Given a newer version within the second: Pub/Sub is asked to retry
    d.advance(S / 2);
    let (code, said) = push(&d, &row("b", 2, "two"));
    assert_eq!(code, 503, "{said}");
    assert!(said.contains("less than a second ago"), "{said}");
    assert_eq!(kv_name(&d, "b"), Some(json!("one")));
    // When it is delivered again a second after the write, it is written
    d.advance(S / 2);
    assert_eq!(push(&d, &row("b", 2, "two")), (200, "written".into()));
    assert_eq!(kv_name(&d, "b"), Some(json!("two")));
    let writes: Vec<Value> = d.logs("push_written");
    assert_eq!(writes.len(), 2);
}

#[test]
fn a_token_that_does_not_pass_is_refused_with_401_and_writes_nothing() {
    let d = pulled();
    let now = d.now();
    let body = envelope(&row("b", 5, "Bo"));
    let with = |name: &str, value: Value| {
        let mut c = claims(now);
        c[name] = value;
        format!("Bearer {}", token(&c, "google-1"))
    };
    let valid = bearer(&d);
    let tampered = format!("{}AAAA", &valid[..valid.len() - 4]);
    let refused = [
        None,
        Some("Bearer the-webhook-secret".to_string()),
        Some(with("aud", json!("https://elsewhere.test/push"))),
        Some(with("iss", json!("https://evil.test"))),
        Some(with("email", json!("someone@else.iam.gserviceaccount.com"))),
        Some(with("email_verified", json!(false))),
        Some(with("exp", json!(now / S - 61))),
        Some(with("iat", json!(now / S + 61))),
        Some(format!("Bearer {}", token(&claims(now), "google-9"))),
        Some(tampered),
    ];
    for authorization in &refused {
        let (code, answer) = d.push(authorization.as_deref(), &body);
        assert_eq!(code, 401, "{authorization:?}: {answer}");
    }
    assert_eq!(d.services.kv.get("b"), None);
    assert_eq!(d.status()["push"]["received"], 0);
    // Tokens a minute off either way still pass
    let (code, _) = d.push(Some(&with("exp", json!(now / S - 59))), &body);
    assert_eq!(code, 200);
    // And Google's keys were fetched once: an unknown key id fetches them
    // again, but not twice within a minute
    assert_eq!(d.services.certs_fetched.get(), 1);
    d.advance(61 * S);
    let unknown = format!("Bearer {}", token(&claims(d.now()), "google-9"));
    for _ in 0..3 {
        assert_eq!(d.push(Some(&unknown), &body).0, 401);
    }
    assert_eq!(d.services.certs_fetched.get(), 2);
}

#[test]
fn a_bad_row_is_set_aside_and_acknowledged_and_a_broken_envelope_is_a_400() {
    let d = pulled();
    let long = "k".repeat(513);
    for bad in [
        json!([1, 2]),
        json!({"key": null, "updated_at": "2026-01-01T00:00:00Z"}),
        json!({"key": "b"}),
        row(&long, 5, "x"),
    ] {
        assert_eq!(push(&d, &bad), (200, "failed".into()), "{bad}");
    }
    let status = d.status();
    assert_eq!(
        status["failed_rows"]["count"], 4,
        "{}",
        status["failed_rows"]
    );
    assert_eq!(status["push"]["failed"], 4);
    assert_eq!(d.services.kv.keys(), vec!["a"]);
    let (code, answer) = d.push(Some(&bearer(&d)), "{\"message\":{}}");
    assert_eq!(code, 400, "{answer}");
}

#[test]
fn a_pushed_key_the_source_does_not_hold_is_deleted_by_the_next_full_read() {
    // Given a key that arrived by push but is not in the source's ten
    let d = pulled();
    let keys: Vec<String> = (0..9).map(|i| format!("k{i}")).collect();
    let rows: Vec<(&str, i64, &str)> = keys.iter().map(|k| (k.as_str(), -20, "x")).collect();
    d.leads(&rows);
    assert_eq!(push(&d, &row("ghost", 5, "Boo")), (200, "written".into()));
    // When the next full read runs
    d.advance(S);
    let (code, answer) = d.webhook(&[("full", "true")]);
    assert_eq!(code, 200, "{answer}");
    // Then the pull, the safety net, removes it
    assert_eq!(d.services.kv.keys().len(), 10);
    assert_eq!(d.services.kv.get("ghost"), None);
}

#[test]
fn a_pull_that_read_a_key_before_a_newer_push_leaves_the_pushed_version() {
    // Given a run writing one key per invocation, whose job read `b` and
    // `c` changed, paused after writing `b`
    let d = Deployment::new(
        &[
            PUSH_VARS,
            &[
                ("MAX_KV_WRITES_PER_INVOCATION", "1"),
                ("BIGQUERY_PAGE_ROWS", "1"),
            ],
        ]
        .concat(),
    );
    d.leads(&[("a", -30, "Ada"), ("b", -20, "Bob"), ("c", -10, "Cy")]);
    d.webhook(&[]);
    d.settle(0);
    d.leads(&[("b", -9, "Bob 2"), ("c", -8, "Cy 2")]);
    d.webhook(&[("wait", "false")]);
    d.fire_alarm();
    assert_eq!(kv_name(&d, "b"), Some(json!("Bob 2")));
    assert_eq!(kv_name(&d, "c"), Some(json!("Cy")));
    // When `c`'s next version arrives by push meanwhile
    d.advance(2 * S);
    assert_eq!(push(&d, &row("c", 5, "Cy 3")), (200, "written".into()));
    d.leads(&[("c", 5, "Cy 3")]);
    d.settle(0);
    // Then the run's older version of `c` does not replace it
    assert_eq!(kv_name(&d, "c"), Some(json!("Cy 3")));
    assert_eq!(d.status()["last_run"]["status"], "completed");
}

#[test]
fn a_push_older_than_a_version_a_pull_read_unchanged_does_not_win() {
    // Given a pulled key, and a newer version of it with the same value
    // that the next pull read as unchanged
    let d = pulled();
    d.leads(&[("a", 20, "Ada")]);
    d.advance(30 * S);
    d.webhook(&[]);
    assert_eq!(d.status()["last_run"]["rows_written"], 0);
    // When Pub/Sub delivers a change of the key stamped between the two
    let mut delete = row("a", 0, "Ada");
    delete["_CHANGE_TYPE"] = json!("DELETE");
    // Then it is older than what KV holds: KV keeps the source's value
    assert_eq!(push(&d, &delete), (200, "stale".into()));
    assert_eq!(kv_name(&d, "a"), Some(json!("Ada")));
}

#[test]
fn once_a_pull_read_a_pushed_value_newer_its_later_versions_are_the_pulls_to_write() {
    // Given a pushed value the source then holds in a newer version
    let d = pulled();
    assert_eq!(push(&d, &row("b", 10, "new")), (200, "written".into()));
    d.leads(&[("b", 20, "new")]);
    d.advance(30 * S);
    d.webhook(&[]);
    // When the source's row goes back to an older stamp with another value
    // (a late load), the next pull writes it: no push is newer than it
    d.leads(&[("b", 15, "late")]);
    d.advance(S);
    d.webhook(&[]);
    assert_eq!(kv_name(&d, "b"), Some(json!("late")));
}
