//! The mirror under change (SPEC "The mirror under change"), through the
//! real coordinator: deploys between invocations and sources whose shape
//! changes, given/when/then.

mod support;

use kv_sync_core::engine::time::MICROS_PER_SECOND;
use support::deployment::Deployment;

const S: i64 = MICROS_PER_SECOND;

#[test]
fn a_query_deployed_during_a_full_read_makes_the_next_run_full_again() {
    // Given a first (full) read under way: one key of three written
    let mut d = Deployment::new(&[
        ("MAX_KV_WRITES_PER_INVOCATION", "1"),
        ("BIGQUERY_PAGE_ROWS", "1"),
    ]);
    d.leads(&[("a", -30, "Ada"), ("b", -20, "Bob"), ("c", -10, "Cy")]);
    d.webhook(&[("wait", "false")]);
    d.fire_alarm();
    assert_eq!(d.services.kv.keys(), vec!["a"]);
    // When a new query is deployed while it runs, and the run ends reading
    // the job it began with
    d.redeploy(&[("SYNC_QUERY", "SELECT key, updated_at, name FROM leads_v2")]);
    d.settle(0);
    let first = &d.status()["last_run"];
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(
        d.services.table.borrow().queries,
        1,
        "one job, the old query's"
    );
    // Then the next run reads the whole source again with the new query,
    // and says why
    let (code, answer) = d.webhook(&[]);
    assert_eq!(code, 200, "{answer}");
    let next = &d.status()["last_run"];
    assert_eq!(next["full"], true, "{next}");
    assert!(
        next["reason"]
            .as_str()
            .is_some_and(|r| r.contains("SYNC_QUERY changed")),
        "{next}"
    );
    // And once it has, the query is settled
    d.webhook(&[]);
    assert_eq!(d.status()["last_run"]["full"], false);
}

#[test]
fn a_shorter_interval_takes_effect_the_first_time_the_object_wakes_after_the_deploy() {
    // Given a sync whose run just ended, next due one interval (300 s) on
    let mut d = Deployment::new(&[]);
    d.leads(&[("a", -30, "Ada")]);
    let (code, answer) = d.webhook(&[]);
    assert_eq!(code, 200, "{answer}");
    let ended = d.now();
    assert_eq!(d.alarm_at(), Some(ended + 300 * S));
    // When SYNC_INTERVAL_SECONDS = 60 is deployed 10 s later and the cron
    // re-arms the object
    d.advance(10 * S);
    d.redeploy(&[("SYNC_INTERVAL_SECONDS", "60")]);
    d.request("/ensure-alarm", &[]);
    // Then the next run is due 60 s after the last one ended, not 300 s
    assert_eq!(d.alarm_at(), Some(ended + 60 * S));
    assert_eq!(d.logs("schedule_moved").len(), 1);
    d.services.table.borrow_mut().upsert("b", d.now(), "Bob");
    d.advance(50 * S);
    d.fire_alarm();
    assert_eq!(
        d.services.kv.keys(),
        vec!["a", "b"],
        "the alarm ran the sync"
    );
    // And a longer interval deployed later waits for the next run's end
    d.advance(5 * S);
    d.redeploy(&[("SYNC_INTERVAL_SECONDS", "900")]);
    let next = d.alarm_at();
    d.request("/status", &[]);
    assert_eq!(d.alarm_at(), next, "nothing moves backwards");
}

#[test]
fn a_full_read_that_keeps_failing_leaves_incremental_runs_running_between_its_retries() {
    // Given a sync whose first full read completed, with a full read due
    // every hour
    let d = Deployment::new(&[("FULL_SYNC_INTERVAL_SECONDS", "3600")]);
    d.leads(&[("a", -30, "Ada")]);
    d.webhook(&[]);
    assert_eq!(d.services.kv.keys(), vec!["a"]);
    // When the hourly full read starts failing (BigQuery refuses the
    // unpruned read) while new rows keep arriving
    d.advance(3_601 * S);
    d.services.table.borrow_mut().full_reads_fail = true;
    let mut arrived = vec!["a".to_string()];
    for round in 0..3 {
        d.fire_alarm();
        let failed = d.status()["last_run"].clone();
        assert_eq!(
            (failed["full"].as_bool(), failed["status"].as_str()),
            (Some(true), Some("failed")),
            "round {round}: {failed}"
        );
        assert_eq!(failed["error_class"], "resourcesExceeded", "{failed}");
        let key = format!("new-{round}");
        d.services
            .table
            .borrow_mut()
            .upsert(&key, d.now() - 5 * S, "New");
        arrived.push(key);
        // Then a run of changes only goes between its retries, and the new
        // rows reach KV
        d.fire_alarm();
        let s = d.status();
        let between = &s["last_run"];
        assert_eq!(between["full"], false, "round {round}: {between}");
        assert_eq!(between["status"], "completed", "round {round}: {between}");
        assert!(
            between["reason"]
                .as_str()
                .is_some_and(|r| r.contains("between retries of the failing full read")),
            "{between}"
        );
        assert_eq!(d.services.kv.keys(), arrived, "round {round}");
        // And the sync still counts as failing: the streak goes on
        assert_eq!(s["consecutive_failures"], round + 1, "{s}");
    }
    // When BigQuery takes the full read again, it completes, and the runs
    // after it are plain incremental ones
    d.services.table.borrow_mut().full_reads_fail = false;
    d.fire_alarm();
    let s = d.status();
    assert_eq!(s["last_run"]["full"], true, "{s}");
    assert_eq!(s["last_run"]["status"], "completed", "{s}");
    assert_eq!(s["consecutive_failures"], 0, "{s}");
    d.fire_alarm();
    let after = &d.status()["last_run"];
    assert_eq!(after["full"], false, "{after}");
    assert!(after["reason"].is_null(), "{after}");
}

#[test]
fn a_run_whose_pages_take_longer_than_the_invocation_budget_still_completes() {
    // Given a source whose every page takes longer to read than
    // INVOCATION_BUDGET_MS
    let d = Deployment::new(&[
        ("INVOCATION_BUDGET_MS", "1000"),
        ("BIGQUERY_PAGE_ROWS", "2"),
    ]);
    let keys = ["a", "b", "c", "d", "e", "f", "g"];
    for (i, key) in keys.iter().enumerate() {
        d.leads(&[(key, -60 + i as i64, "Ada")]);
    }
    d.services.page_latency.set(3 * S);
    // When it runs
    d.webhook(&[("wait", "false")]);
    d.settle(0);
    // Then every invocation wrote what it read, and the run completed
    let run = &d.status()["last_run"];
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(d.services.kv.keys(), keys);
    assert!(
        run["invocations"].as_u64().unwrap() <= keys.len() as u64,
        "{run}"
    );
}

#[test]
fn rows_later_than_the_lookback_are_counted_by_the_next_full_run_with_the_lookback_that_would_catch_them(
) {
    // Given a synced source and a lookback of 600 s
    let d = Deployment::new(&[
        ("FULL_SYNC_INTERVAL_SECONDS", "3600"),
        ("SYNC_LOOKBACK_SECONDS", "600"),
    ]);
    d.leads(&[("a", -30, "Ada")]);
    d.webhook(&[]);
    assert_eq!(
        d.status()["last_run"]["rows_late"],
        0,
        "the first read counts none"
    );
    // When a row arrives stamped two hours back (an hourly CRM load)
    d.advance(60 * S);
    d.leads(&[("late", -7_200, "Lou")]);
    d.webhook(&[]);
    assert_eq!(
        d.services.kv.keys(),
        vec!["a"],
        "no incremental run can read it"
    );
    // Then the scheduled full run writes it, counts it late, and names the
    // lookback that would have caught it
    d.advance(3_600 * S);
    d.fire_alarm();
    let run = &d.status()["last_run"];
    assert_eq!(run["full"], true, "{run}");
    assert_eq!(run["rows_late"], 1, "{run}");
    let warning = run["warning"].as_str().unwrap_or_default();
    assert!(
        warning.contains("SYNC_LOOKBACK_SECONDS (600 s)")
            && warning.contains("SYNC_LOOKBACK_SECONDS = 7170 would have caught them"),
        "{warning}"
    );
    assert_eq!(d.services.kv.keys(), vec!["a", "late"]);
}

#[test]
fn a_deploy_that_changes_the_ttl_rewrites_every_value_under_the_new_one() {
    // Given values written with a TTL of an hour
    let mut d = Deployment::new(&[("KV_EXPIRATION_TTL_SECONDS", "3600")]);
    d.leads(&[("a", -30, "Ada"), ("b", -20, "Bob"), ("c", -10, "Cy")]);
    d.webhook(&[]);
    assert_eq!(d.services.kv.ttl("a"), Some(3_600));
    // When a deploy turns the TTL off
    d.advance(60 * S);
    d.redeploy(&[("KV_EXPIRATION_TTL_SECONDS", "0")]);
    let (code, answer) = d.webhook(&[]);
    assert_eq!(code, 200, "{answer}");
    // Then the next run reads everything and writes every value again,
    // without a TTL, and says why
    let run = &d.status()["last_run"];
    assert_eq!(
        (run["full"].as_bool(), run["rows_written"].as_u64()),
        (Some(true), Some(3)),
        "{run}"
    );
    assert!(
        run["reason"]
            .as_str()
            .is_some_and(|r| r.contains("KV_EXPIRATION_TTL_SECONDS (3600 → 0) changed")),
        "{run}"
    );
    for key in ["a", "b", "c"] {
        assert_eq!(d.services.kv.ttl(key), Some(0), "{key}");
    }
    // And the runs after it are incremental, writing nothing unchanged
    d.webhook(&[]);
    let next = &d.status()["last_run"];
    assert_eq!(
        (next["full"].as_bool(), next["rows_written"].as_u64()),
        (Some(false), Some(0)),
        "{next}"
    );
}

#[test]
fn a_deploy_that_changes_the_key_prefix_moves_every_key_and_deletes_the_old_ones() {
    // Given a sync that wrote its keys under "a:", two writes an invocation
    let syncs = |prefix: &str| {
        format!(
            r#"[{{"name": "leads", "query": "SELECT key, updated_at, name FROM leads", "key_prefix": "{prefix}"}}]"#
        )
    };
    let mut d = Deployment::new(&[
        ("SYNCS", &syncs("a:")),
        ("MAX_KV_WRITES_PER_INVOCATION", "2"),
        ("RECONCILE_MAX_DELETE_PERCENT", "20"),
    ]);
    d.sync = "leads".into();
    let leads: Vec<(String, i64, &str)> =
        (0..10).map(|i| (format!("k{i}"), -60 + i, "Ada")).collect();
    let rows: Vec<(&str, i64, &str)> = leads
        .iter()
        .map(|(k, at, n)| (k.as_str(), *at, *n))
        .collect();
    d.leads(&rows);
    d.webhook(&[("wait", "false")]);
    d.settle(0);
    let held = |prefix: &str| -> Vec<String> { (0..10).map(|i| format!("{prefix}k{i}")).collect() };
    assert_eq!(d.services.kv.keys(), held("a:"));
    // When the prefix changes to "b:", and one row leaves the source
    d.redeploy(&[("SYNCS", &syncs("b:"))]);
    d.services.table.borrow_mut().rows.remove("k9");
    d.webhook(&[("wait", "false")]);
    d.settle(0);
    // Then every key still in the source is under "b:" alone, the one that
    // left is under neither, and the guard did not count the move
    let run = &d.status()["last_run"];
    assert_eq!(run["status"], "completed", "{run}");
    assert!(
        run["reason"]
            .as_str()
            .is_some_and(|r| r.contains(r#"key_prefix ("a:" → "b:") changed"#)),
        "{run}"
    );
    assert_eq!(
        (run["rows_written"].as_u64(), run["rows_orphaned"].as_u64()),
        (Some(9), Some(1)),
        "{run}"
    );
    assert_eq!(run["warning"], serde_json::Value::Null, "{run}");
    assert_eq!(d.services.kv.keys(), held("b:")[..9].to_vec());
    assert_eq!(
        d.services.kv.get("b:k3").map(|v| v["name"].clone()),
        Some("Ada".into())
    );
    // And a later full run has nothing left to move or delete
    d.webhook(&[("full", "true"), ("wait", "false")]);
    d.settle(0);
    let next = &d.status()["last_run"];
    assert_eq!(
        (
            next["rows_written"].as_u64(),
            next["rows_orphaned"].as_u64()
        ),
        (Some(0), Some(0)),
        "{next}"
    );
}
