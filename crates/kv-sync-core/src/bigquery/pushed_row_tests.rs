use serde_json::json;

use super::*;
use crate::bigquery::row::decode_rows;

fn schema() -> serde_json::Value {
    let f = |name: &str, kind: &str| json!({"name": name, "type": kind, "mode": "NULLABLE"});
    json!({"fields": [
        f("key", "STRING"), f("updated_at", "TIMESTAMP"),
        f("n", "INTEGER"), f("big", "INTEGER"), f("x", "FLOAT"), f("two", "FLOAT"),
        f("nan", "FLOAT"), f("b", "BOOLEAN"), f("ts", "TIMESTAMP"), f("j", "JSON"),
        {"name": "s", "type": "RECORD", "mode": "NULLABLE",
         "fields": [f("x", "STRING"), f("y", "INTEGER")]},
        {"name": "arr", "type": "INTEGER", "mode": "REPEATED"},
        {"name": "none", "type": "STRING", "mode": "REPEATED"},
        f("num", "NUMERIC"), f("numf", "NUMERIC"), f("str", "STRING"), f("d", "DATE"),
        f("missing", "STRING"), f("deleted", "BOOLEAN"),
    ]})
}

/// The same row as the REST API pages it and as `TO_JSON_STRING` pushes it.
fn the_row_both_ways() -> (String, String) {
    let v = |s: &str| json!({"v": s});
    let rest = json!([{"f": [
        v("k1"), v("1772800496789012"), v("3"), v("9007199254740993"), v("1.5"), v("2"),
        v("NaN"), v("true"), v("1772800496000001"), v(r#"{"a":[1,2],"b":null}"#),
        {"v": {"f": [v("a"), v("1")]}}, {"v": [v("1"), v("2")]}, {"v": []},
        v("12"), v("12.5"), v("he said \"hi\"\n"), v("2026-03-06"), {"v": null}, v("false"),
    ]}]);
    let pushed = r#"{"key":"k1","updated_at":"2026-03-06T12:34:56.789012Z","n":3,
        "big":"9007199254740993","x":1.5,"two":2.0,"nan":"NaN","b":true,
        "ts":"2026-03-06T12:34:56.000001Z","j":{"a":[1,2],"b":null},"s":{"x":"a","y":1},
        "arr":[1,2],"none":null,"num":12,"numf":"12.5","str":"he said \"hi\"\n",
        "d":"2026-03-06","deleted":false,"_CHANGE_TYPE":"INSERT",
        "_CHANGE_TIMESTAMP":"2026-03-06T12:34:57Z","extra":1}"#;
    (rest.to_string(), pushed.to_string())
}

#[test]
fn a_pushed_row_is_the_value_the_pull_writes() {
    let schema_json = schema().to_string();
    let (rest, pushed) = the_row_both_ways();
    let pulled = decode_rows(&serde_json::from_str(&schema_json).unwrap(), &rest).unwrap();
    let pulled = pulled.into_iter().next().unwrap().unwrap();
    let pushed = PushSchema::parse(&schema_json)
        .unwrap()
        .type_row(pushed.as_bytes())
        .unwrap();
    assert_eq!(pushed, pulled);
    assert!(!pushed.value.contains("_CHANGE"), "{}", pushed.value);
    assert_eq!(pushed.updated_at, Some(1_772_800_496_789_012));
}

#[test]
fn a_changes_delete_deletes_and_bad_rows_are_unreadable_with_a_reason() {
    let schema = PushSchema::parse(&schema().to_string()).unwrap();
    let delete = br#"{"key":"k1","updated_at":"2026-03-06T12:34:56Z","_CHANGE_TYPE":"DELETE"}"#;
    let row = schema.type_row(delete).unwrap();
    assert!(row.deleted);
    assert_eq!(row.key.as_deref(), Some("k1"));
    for (data, says) in [
        (&b"[1,2]"[..], "not a JSON object"),
        (br#"{"key":"k1","updated_at":"yesterday"}"#, "`updated_at`"),
        (br#"{"key":"k1","n":"three"}"#, "column `n`"),
        (br#"{"key":"k1","s":{"y":"one"}}"#, "column `s`: column `y`"),
        (br#"{"key":"k1","arr":7}"#, "column `arr`"),
    ] {
        let e = schema.type_row(data).unwrap_err();
        assert!(
            e.reason.contains(says),
            "{}: {}",
            String::from_utf8_lossy(data),
            e.reason
        );
    }
    let keyless = schema.type_row(br#"{"updated_at":null}"#).unwrap();
    assert_eq!((keyless.key, keyless.updated_at), (None, None));
}
