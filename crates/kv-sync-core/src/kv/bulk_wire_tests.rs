use super::*;
use crate::engine::record::Metadata;
use crate::runtime::scripted::ScriptedRuntime;
use serde_json::Value;

fn put(key: &str, value_len: usize) -> KvOp {
    KvOp::Put {
        key: key.into(),
        value: "v".repeat(value_len),
        metadata: Metadata {
            updated_at: 0,
            synced_at: 1_000_000,
        },
    }
}

#[test]
fn chunks_respect_pairs_size_and_kind() {
    let mut ops: Vec<KvOp> = (0..25_000).map(|i| put(&format!("k{i}"), 10)).collect();
    ops.push(KvOp::Delete { key: "gone".into() });
    let chunks = chunk(&ops);
    assert_eq!(
        chunks.iter().map(|c| c.indices().len()).collect::<Vec<_>>(),
        vec![10_000, 10_000, 5_000, 1]
    );
    assert_eq!(chunks[3], Chunk::Deletes(vec![25_000]));
    assert!(matches!(chunks[0], Chunk::Puts(_)));
    let big: Vec<KvOp> = (0..3)
        .map(|i| put(&format!("b{i}"), 40 * 1024 * 1024))
        .collect();
    assert_eq!(
        chunk(&big).len(),
        2,
        "two 40 MB values fit in one request, not three"
    );
}

/// The bodies of `chunk` of `ops` as the scripted runtime assembles them.
fn body_of(ops: &[KvOp], chunk: &Chunk, ttl: u64) -> String {
    let runtime = ScriptedRuntime::default();
    let mut ops = ops.to_vec();
    let pieces = pieces(&runtime, &mut ops, ttl);
    body(&runtime, &pieces, chunk)
}

#[test]
fn pieces_take_the_values_out_and_keep_the_keys() {
    let runtime = ScriptedRuntime::default();
    let mut ops = vec![put("a", 5), KvOp::Delete { key: "b".into() }];
    let made = pieces(&runtime, &mut ops, 0);
    assert_eq!(made.len(), 2);
    assert!(matches!(&ops[0], KvOp::Put { key, value, .. } if key == "a" && value.is_empty()));
    assert_eq!(ops[1].key(), "b");
}

#[test]
fn bodies_carry_metadata_and_ttl() {
    let ops = vec![put("a", 1), KvOp::Delete { key: "b".into() }];
    let v: Value = serde_json::from_str(&body_of(&ops, &Chunk::Puts(vec![0]), 3_600)).unwrap();
    assert_eq!(v[0]["key"], "a");
    assert_eq!(v[0]["value"], "v");
    assert_eq!(
        v[0]["metadata"]["updated_at"],
        "1970-01-01T00:00:00.000000Z"
    );
    assert_eq!(v[0]["metadata"]["synced_at"], "1970-01-01T00:00:01.000000Z");
    assert_eq!(v[0]["expiration_ttl"], 3_600);
    let v: Value = serde_json::from_str(&body_of(&ops, &Chunk::Puts(vec![0]), 0)).unwrap();
    assert!(v[0].get("expiration_ttl").is_none(), "no TTL, no field");
    assert_eq!(body_of(&ops, &Chunk::Deletes(vec![1]), 0), "[\"b\"]");
}

#[test]
fn answers_map_to_per_key_results() {
    let ops = vec![put("a", 1), put("b", 1), put("c", 1)];
    let ok = r#"{"success":true,"errors":[],"messages":[],"result":{"successful_key_count":2,"unsuccessful_keys":["b"]}}"#;
    let per_key = |answer| match answer {
        BulkAnswer::PerKey(r) => r,
        other => panic!("{other:?}"),
    };
    let r = per_key(read_answer(200, ok, &ops, &[0, 1, 2]));
    assert_eq!(r[0], Ok(()));
    assert!(matches!(r[1], Err(SinkError::Unavailable(_))));
    assert_eq!(r[2], Ok(()));
    let limited = r#"{"success":false,"errors":[{"code":10013,"message":"Too many requests"}]}"#;
    assert!(per_key(read_answer(429, limited, &ops, &[0, 1]))
        .iter()
        .all(|r| matches!(r, Err(SinkError::RateLimited(m)) if m.contains("Too many"))));
    assert!(per_key(read_answer(502, "<html>", &ops, &[0]))
        .iter()
        .all(|r| matches!(r, Err(SinkError::Unavailable(_)))));
    assert!(matches!(
        read_answer(
            403,
            r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#,
            &ops,
            &[0]
        ),
        BulkAnswer::Unusable(m) if m.contains("Authentication error")
    ));
}

#[test]
fn the_request_budget_stops_short_of_cloudflares_limit() {
    let mut budget = RequestBudget::default();
    for i in 0..1_100 {
        assert_eq!(budget.take(i), Ok(()));
    }
    assert_eq!(budget.take(2_000), Err(WINDOW));
    assert_eq!(
        budget.take(WINDOW),
        Ok(()),
        "the oldest request left the window"
    );
}

#[test]
fn syncs_share_the_token_evenly_and_a_restart_keeps_counting() {
    let mut shared = RequestBudget::new(4, Vec::new());
    assert_eq!(shared.limit(), 275, "four syncs: 1,100 / 4 each");
    for i in 0..275 {
        assert_eq!(shared.take(i), Ok(()));
    }
    assert_eq!(shared.take(300), Err(WINDOW));
    let mut restarted = RequestBudget::new(4, shared.sent());
    assert_eq!(
        restarted.take(400),
        Err(WINDOW),
        "the requests sent before still count"
    );
}

#[test]
fn a_refused_request_is_told_apart_and_its_chunk_halves() {
    let ops = vec![put("a", 1), put(".", 1), put("c", 1)];
    let refused = r#"{"success":false,"errors":[{"code":10019,"message":"Invalid key name: \".\"\n  at stack"}]}"#;
    assert_eq!(
        read_answer(400, refused, &ops, &[0, 1, 2]),
        BulkAnswer::Refused("KV bulk API: Invalid key name: \".\" (code 10019)".into())
    );
    let (a, b) = Chunk::Puts(vec![0, 1, 2]).halves();
    assert_eq!((a, b), (Chunk::Puts(vec![0]), Chunk::Puts(vec![1, 2])));
}

#[test]
fn a_request_refused_for_what_it_was_sent_with_is_no_pairs_fault() {
    let ops = vec![put("a", 1), put("b", 1)];
    let answer = |status: u16, code: u32, message: &str| {
        let body = format!(
            r#"{{"success":false,"errors":[{{"code":{code},"message":{}}}]}}"#,
            serde_json::to_string(message).unwrap()
        );
        read_answer(status, &body, &ops, &[0, 1])
    };
    let wrong_namespace = answer(
        400,
        7003,
        "Could not route to /client/v4/accounts/acc/storage/kv/namespaces/x/bulk, perhaps your object identifier is invalid?",
    );
    assert!(
        matches!(&wrong_namespace, BulkAnswer::Unusable(m) if m.contains("HTTP 400") && m.contains("code 7003")),
        "{wrong_namespace:?}"
    );
    for status in [401, 403, 404] {
        assert!(matches!(
            answer(status, 10000, "Authentication error"),
            BulkAnswer::Unusable(_)
        ));
    }
    assert!(
        matches!(
            answer(400, 10019, "Invalid key name: \"b\""),
            BulkAnswer::Refused(_)
        ),
        "a 400 that quotes a key of the request is that key's"
    );
}
