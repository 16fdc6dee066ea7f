//! The bulk sink on the host: what it sends, and how it isolates the pairs
//! of a request KV refuses whole.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::engine::record::Metadata;
use crate::runtime::scripted::ScriptedRuntime;

fn endpoint() -> BulkEndpoint {
    BulkEndpoint {
        api_base: "http://cf.test/client/v4".into(),
        account_id: "acc".into(),
        namespace_id: "ns".into(),
        api_token: "tok".into(),
    }
}

fn put(key: &str) -> KvOp {
    KvOp::Put {
        key: key.into(),
        value: "{}".into(),
        metadata: Metadata {
            updated_at: 0,
            synced_at: 0,
        },
    }
}

/// Answers like the bulk API: a request holding a key KV refuses fails
/// whole with 400; any other is written.
fn refuse_dots(runtime: &ScriptedRuntime) {
    *runtime.responder.borrow_mut() = Some(Box::new(|sent| {
        let pairs: Vec<serde_json::Value> =
            serde_json::from_str(sent.body.as_deref().unwrap()).unwrap();
        let bad = pairs
            .iter()
            .find(|p| matches!(p["key"].as_str(), Some("." | "..")));
        let (status, body) = match bad {
            Some(p) => {
                let message = format!("Invalid key name: {}", p["key"]);
                (
                    400,
                    serde_json::json!({"success": false, "errors": [{"code": 10019, "message": message}]}),
                )
            }
            None => (
                200,
                serde_json::json!({"success": true, "errors": [], "result": {"unsuccessful_keys": []}}),
            ),
        };
        let body = body.to_string();
        crate::runtime::HttpResponse {
            status,
            body,
            ..Default::default()
        }
    }));
}

#[test]
fn a_request_refused_whole_is_halved_until_the_refused_pairs_stand_alone() {
    let runtime = ScriptedRuntime::default();
    refuse_dots(&runtime);
    let budget = Rc::new(RefCell::new(RequestBudget::default()));
    let mut sink = BulkSink::new(&runtime, &endpoint(), 0, budget, i64::MAX);
    let keys = ["a", "b", ".", "c", "d", "e", "..", "f"];
    let results = futures::executor::block_on(sink.apply(keys.iter().map(|k| put(k)).collect()));
    for (key, result) in keys.iter().zip(&results) {
        match *key {
            "." | ".." => assert!(
                matches!(result, Err(SinkError::Rejected(m)) if m.contains("Invalid key name")),
                "{key}: {result:?}"
            ),
            _ => assert_eq!(result, &Ok(()), "{key}"),
        }
    }
    let sent = runtime.sent.borrow();
    assert_eq!(
        sent[0].url,
        "http://cf.test/client/v4/accounts/acc/storage/kv/namespaces/ns/bulk"
    );
    assert!(
        sent.len() <= 1 + 2 * 2 * 3,
        "{} requests to isolate two keys among eight",
        sent.len()
    );
    let written: usize = sent
        .iter()
        .filter(|s| {
            !s.body.as_deref().unwrap().contains("\".\"")
                && !s.body.as_deref().unwrap().contains("\"..\"")
        })
        .map(|s| {
            serde_json::from_str::<Vec<serde_json::Value>>(s.body.as_deref().unwrap())
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(written, 6, "each good pair was written once");
}
