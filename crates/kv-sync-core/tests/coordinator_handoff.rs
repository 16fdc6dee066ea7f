//! Syncs that share a namespace and a prefix (key-range shards, a sync
//! split in two), through two real coordinators over one KV namespace: a key
//! that leaves one sync's query and enters the other's keeps the new owner's
//! value through every later full run of both (SPEC "The mirror under
//! change"), given/when/then.

mod support;

use kv_sync_core::engine::time::MICROS_PER_SECOND;
use serde_json::Value;
use support::deployment::Deployment;

const S: i64 = MICROS_PER_SECOND;

/// Syncs `a` and `b`, both writing under `p:` into the default namespace,
/// with queries `qa` and `qb`.
fn syncs(qa: &str, qb: &str) -> String {
    format!(
        r#"[{{"name": "a", "query": "{qa}", "key_prefix": "p:"}},
            {{"name": "b", "query": "{qb}", "key_prefix": "p:"}}]"#
    )
}

/// `a` holds k0…k9 in KV; `b` beside it holds nothing yet.
fn two_shards() -> (Deployment, Deployment) {
    let mut a = Deployment::new(&[("SYNCS", &syncs("SELECT 1 AS v1", "SELECT 2 AS v1"))]);
    a.sync = "a".into();
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let rows: Vec<(&str, i64, &str)> = keys.iter().map(|k| (k.as_str(), -60, "Ada")).collect();
    a.leads(&rows);
    a.webhook(&[]);
    assert_eq!(a.services.kv.keys().len(), 10);
    let b = a.beside("b");
    (a, b)
}

/// A deploy of new queries for both, `k9` moving from `a`'s source to `b`'s
/// (with `b`'s value), a minute on.
fn hand_k9_to_b(a: &mut Deployment, b: &mut Deployment) {
    let split = syncs("SELECT 1 AS v2", "SELECT 2 AS v2");
    a.redeploy(&[("SYNCS", &split)]);
    b.redeploy(&[("SYNCS", &split)]);
    a.services.table.borrow_mut().rows.remove("k9");
    b.leads(&[("k9", -30, "Bea")]);
    a.advance(60 * S);
    b.advance(60 * S);
}

fn full_run(d: &Deployment) -> Value {
    let (code, answer) = d.webhook(&[("full", "true")]);
    assert_eq!(code, 200, "{answer}");
    d.status()["last_run"].clone()
}

fn held_name(d: &Deployment, key: &str) -> Option<Value> {
    d.services.kv.get(key).map(|v| v["name"].clone())
}

#[test]
fn a_key_handed_to_another_sync_keeps_its_value_through_every_full_run_of_both() {
    // Given k9 handed from a to b, and b has written it
    let (mut a, mut b) = two_shards();
    hand_k9_to_b(&mut a, &mut b);
    let first = full_run(&b);
    assert_eq!(first["rows_written"], 1, "{first}");
    // When a's full run finds k9 gone from its source, and both run full
    // again and again
    for round in 0..3 {
        let run = full_run(&a);
        assert_eq!(run["status"], "completed", "{run}");
        assert_eq!(
            run["rows_orphaned"], 0,
            "round {round}: a deleted b's key: {run}"
        );
        full_run(&b);
        a.advance(60 * S);
        b.advance(60 * S);
        // Then KV holds k9 with b's value, and a's nine keys with a's
        assert_eq!(held_name(&a, "p:k9"), Some("Bea".into()), "round {round}");
        assert_eq!(a.services.kv.keys().len(), 10, "round {round}");
    }
}

#[test]
fn a_key_handed_before_its_new_owner_wrote_it_is_deleted_then_written() {
    // Given k9 handed from a to b, and a's full run comes first
    let (mut a, mut b) = two_shards();
    hand_k9_to_b(&mut a, &mut b);
    let run = full_run(&a);
    // Then a deletes its own value (nobody wrote it since)
    assert_eq!(run["rows_orphaned"], 1, "{run}");
    assert_eq!(held_name(&a, "p:k9"), None);
    // And b's first run writes its own
    full_run(&b);
    assert_eq!(held_name(&a, "p:k9"), Some("Bea".into()));
    full_run(&a);
    assert_eq!(held_name(&a, "p:k9"), Some("Bea".into()));
}

#[test]
fn a_key_handed_back_before_its_old_owner_noticed_gets_the_old_owners_value_again() {
    // Given k9 handed to b, written by b, and handed back to a before a's
    // full run ran (a still remembers writing it)
    let (mut a, mut b) = two_shards();
    hand_k9_to_b(&mut a, &mut b);
    full_run(&b);
    let back = syncs("SELECT 1 AS v3", "SELECT 2 AS v3");
    a.redeploy(&[("SYNCS", &back)]);
    b.redeploy(&[("SYNCS", &back)]);
    a.leads(&[("k9", -60, "Ada")]);
    b.services.table.borrow_mut().rows.remove("k9");
    a.advance(60 * S);
    b.advance(60 * S);
    // When both run (full: their queries changed), in either order
    a.webhook(&[]);
    let run = &a.status()["last_run"];
    assert!(
        run["reason"]
            .as_str()
            .is_some_and(|r| r.contains("SYNC_QUERY")),
        "{run}"
    );
    assert_eq!(run["rows_written"], 10, "every value again: {run}");
    full_run(&b);
    full_run(&a);
    // Then KV holds a's value again, not b's stale one
    assert_eq!(held_name(&a, "p:k9"), Some("Ada".into()));
}
