use super::*;
use crate::engine::record::check;
use serde_json::{json, Value};

/// Decodes one `{"f":[…]}` row given as text: the typing rules without the
/// record rules.
fn decode_text(schema: &Schema, row_json: &str) -> Result<SourceRow, DecodeError> {
    let mut r = Reader::new(row_json);
    let row = read_row(&mut r, &Layout::of(schema), 0)
        .and_then(|row| r.end().map(|()| row))
        .map_err(|e| DecodeError(format!("not a BigQuery row: {e}")))?;
    row.finish().map_err(|(_, e)| e)
}

/// Decodes a row written as JSON, as BigQuery sends it.
fn decode_row(schema: &Schema, row: &Value) -> Result<SourceRow, DecodeError> {
    decode_text(schema, &row.to_string())
}

fn schema(v: Value) -> Schema {
    serde_json::from_value(json!({ "fields": v })).unwrap()
}

#[test]
fn decodes_every_scalar_type() {
    let s = schema(json!([
        {"name":"key","type":"STRING"},
        {"name":"updated_at","type":"TIMESTAMP"},
        {"name":"small","type":"INTEGER"},
        {"name":"big","type":"INT64"},
        {"name":"ratio","type":"FLOAT"},
        {"name":"nan","type":"FLOAT64"},
        {"name":"price","type":"NUMERIC"},
        {"name":"ok","type":"BOOLEAN"},
        {"name":"seen","type":"TIMESTAMP"},
        {"name":"day","type":"DATE"},
        {"name":"local","type":"DATETIME"},
        {"name":"doc","type":"JSON"},
        {"name":"nothing","type":"STRING"}
    ]));
    let row = json!({"f":[
        {"v":"lead-1"}, {"v":"1767225600123456"}, {"v":"42"}, {"v":"9007199254740993"},
        {"v":"0.5"}, {"v":"NaN"}, {"v":"12.30"}, {"v":"true"}, {"v":"1.767225600123456E9"},
        {"v":"2026-01-01"}, {"v":"2026-01-01T10:00:00"}, {"v":"{\"a\":[1,2]}"}, {"v":null}
    ]});
    let d = decode_row(&s, &row).unwrap();
    assert_eq!(d.key.as_deref(), Some("lead-1"));
    assert_eq!(d.updated_at, Some(1_767_225_600_123_456));
    assert!(!d.deleted);
    assert_eq!(
        serde_json::from_str::<Value>(&d.value).unwrap(),
        json!({
            "small": 42, "big": "9007199254740993", "ratio": 0.5, "nan": "NaN",
            "price": "12.30", "ok": true, "seen": "2026-01-01T00:00:00.123456Z",
            "day": "2026-01-01", "local": "2026-01-01T10:00:00", "doc": {"a":[1,2]},
            "nothing": null
        })
    );
}

#[test]
fn decodes_nested_records_and_repeated_fields() {
    let s = schema(json!([
        {"name":"key","type":"STRING"},
        {"name":"visits","type":"RECORD","mode":"REPEATED","fields":[
            {"name":"url","type":"STRING"},
            {"name":"at","type":"TIMESTAMP"},
            {"name":"tags","type":"STRING","mode":"REPEATED"}
        ]},
        {"name":"owner","type":"RECORD","fields":[
            {"name":"id","type":"INTEGER"},
            {"name":"team","type":"RECORD","fields":[{"name":"name","type":"STRING"}]}
        ]},
        {"name":"scores","type":"FLOAT","mode":"REPEATED"},
        {"name":"empty","type":"INTEGER","mode":"REPEATED"}
    ]));
    let row = json!({"f":[
        {"v":"k"},
        {"v":[{"v":{"f":[{"v":"/pricing"},{"v":"0"},{"v":[{"v":"a"},{"v":"b"}]}]}}]},
        {"v":{"f":[{"v":"7"},{"v":{"f":[{"v":"emea"}]}}]}},
        {"v":[{"v":"1.5"},{"v":"2"}]},
        {"v":null}
    ]});
    let d = decode_row(&s, &row).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&d.value).unwrap(),
        json!({
            "visits": [{"url":"/pricing","at":"1970-01-01T00:00:00.000000Z","tags":["a","b"]}],
            "owner": {"id": 7, "team": {"name": "emea"}},
            "scores": [1.5, 2.0],
            "empty": []
        })
    );
}

#[test]
fn reserved_columns_are_not_value_fields() {
    let s = schema(json!([
        {"name":"key","type":"STRING"},
        {"name":"updated_at","type":"TIMESTAMP"},
        {"name":"deleted","type":"BOOLEAN"}
    ]));
    let d = decode_row(&s, &json!({"f":[{"v":"k"},{"v":"5"},{"v":"true"}]})).unwrap();
    assert!(d.deleted);
    assert_eq!(d.value, "{}");
}

#[test]
fn a_cell_that_contradicts_its_type_is_an_error_naming_the_column() {
    let s = schema(json!([{"name":"key","type":"STRING"},{"name":"n","type":"INTEGER"}]));
    let e = decode_row(&s, &json!({"f":[{"v":"k"},{"v":"twelve"}]})).unwrap_err();
    assert!(e.0.contains("column `n`"), "{e}");
    let e = decode_row(&s, &json!({"f":[{"v":"k"}]})).unwrap_err();
    assert!(e.0.contains("schema has 2 fields"), "{e}");
}

#[test]
fn strings_are_escaped_and_floats_stay_floats() {
    let s = schema(json!([
        {"name":"key","type":"STRING"},
        {"name":"quote \"name\"","type":"STRING"},
        {"name":"f","type":"FLOAT"},
        {"name":"big","type":"FLOAT"},
        {"name":"doc","type":"JSON"}
    ]));
    let text = "line\nbreak \"quoted\" back\\slash \u{1} tab\t é 🚀";
    let row =
        json!({"f":[{"v":"k"},{"v":text},{"v":"2"},{"v":"1e300"},{"v":" [1, {\"a\": null}] "}]});
    let d = decode_row(&s, &row).unwrap();
    let v: Value = serde_json::from_str(&d.value).unwrap();
    assert_eq!(v["quote \"name\""], text);
    assert!(v["f"].is_f64(), "{}", d.value);
    assert_eq!(v["f"], json!(2.0));
    assert_eq!(v["big"].as_f64(), Some(1e300));
    assert_eq!(v["doc"], json!([1, {"a": null}]));
    let bad = json!({"f":[{"v":"k"},{"v":"x"},{"v":"1"},{"v":"1"},{"v":"{not json"}]});
    assert!(decode_row(&s, &bad).unwrap_err().0.contains("column `doc`"));
}

fn two_column_schema() -> Schema {
    schema(json!([
        {"name":"key","type":"STRING"},
        {"name":"updated_at","type":"TIMESTAMP"},
        {"name":"note","type":"STRING"},
        {"name":"tags","type":"STRING","mode":"REPEATED"},
        {"name":"owner","type":"RECORD","fields":[{"name":"id","type":"INTEGER"}]}
    ]))
}

#[test]
fn any_spelling_of_the_same_json_decodes_the_same() {
    let s = two_column_schema();
    let compact =
        r#"{"f":[{"v":"k"},{"v":"5"},{"v":"a \"b\""},{"v":[{"v":"x"}]},{"v":{"f":[{"v":"7"}]}}]}"#;
    // Whitespace everywhere, escaped member names (`\u0076` is "v"), members
    // kv-sync does not read, and a `v` that is not first in its cell.
    let spelled = "{ \"extra\" : [1, {\"v\": 2}] ,\n \"f\" : [ {\"\\u0076\" : \"k\"} , {\"x\": null, \"v\": \"5\"},\
        {\"v\":\"a \\\"b\\\"\"} , { \"v\" : [ { \"v\" : \"x\" } ] } , {\"v\":{ \"f\" : [ {\"v\":\"7\"} ] , \"g\": {} }} ] }";
    let a = decode_text(&s, compact).unwrap();
    let b = decode_text(&s, spelled).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        serde_json::from_str::<Value>(&a.value).unwrap(),
        json!({"note": "a \"b\"", "tags": ["x"], "owner": {"id": 7}})
    );
}

#[test]
fn a_cell_without_v_is_null() {
    let s = two_column_schema();
    let d = decode_text(&s, r#"{"f":[{"v":"k"},{"v":"5"},{},{},{}]}"#).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&d.value).unwrap(),
        json!({"note": null, "tags": [], "owner": null})
    );
}

#[test]
fn a_bad_row_is_quarantined_with_its_key_and_the_page_goes_on() {
    let s = two_column_schema();
    let rows = r#"[
        {"f":[{"v":"a"},{"v":"1"},{"v":"x"},{"v":[]},{"v":null}]},
        {"f":[{"v":"b"},{"v":"2"},{"v":["not a cell"]},{"v":[]},{"v":null}]},
        {"f":[{"v":"c"},{"v":"3"},{"v":"z"},{"v":"not a list"},{"v":{"f":[{"v":"one"}]}}]},
        {"f":[{"v":"d"},{"v":"4"},{"v":"w"},{"v":null},{"v":null}]}
    ]"#;
    // Checked as the engine checks them, which names the decoding failure.
    let decoded = decode_rows(&s, rows)
        .unwrap()
        .into_iter()
        .map(|r| check(r, ""));
    let keys: Vec<_> = decoded
        .map(|r| match r {
            Ok(rec) => format!("ok {}", rec.key()),
            Err(q) => format!("bad {} {}", q.key.as_deref().unwrap_or("-"), q.reason),
        })
        .collect();
    assert_eq!(keys[0], "ok a");
    assert!(
        keys[1].starts_with("bad b cannot decode row: column `note`: STRING value is a list"),
        "{}",
        keys[1]
    );
    // The first failing column is named, not the last.
    assert!(
        keys[2].starts_with("bad c cannot decode row: column `tags`: REPEATED value"),
        "{}",
        keys[2]
    );
    assert_eq!(keys[3], "ok d");
}

#[test]
fn text_that_is_not_json_fails_the_page_with_where() {
    let s = two_column_schema();
    for broken in [
        r#"[{"f":[{"v":"a"}]"#,
        r#"[{"f":[{"v":"a}]}]"#,
        r#"[{"f":[{"v":"a"},]}]"#,
        r#"[{"f":[{"v":"a"}]}] trailing"#,
        "[{\"f\":[{\"v\":\"tab\there\"}]}]",
    ] {
        let e = decode_rows(&s, broken).unwrap_err();
        assert!(e.offset <= broken.len(), "{broken}: {e}");
    }
    assert!(decode_rows(&s, "null").unwrap().is_empty());
    assert!(decode_rows(&s, " [ ] ").unwrap().is_empty());
}

#[test]
fn edge_values_stay_exact_or_quarantine_the_row_with_a_short_quote() {
    let s = schema(json!([
        {"name":"key","type":"STRING"},
        {"name":"updated_at","type":"TIMESTAMP"},
        {"name":"n","type":"INT64"},
        {"name":"seen","type":"TIMESTAMP"}
    ]));
    let row = |n: &str, seen: &str| json!({"f":[{"v":"k"},{"v":"1"},{"v": n},{"v": seen}]});
    let d = decode_row(&s, &row("-9223372036854775808", "0")).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&d.value).unwrap()["n"],
        json!("-9223372036854775808"),
        "INT64's smallest value is kept as text, not a number JavaScript rounds"
    );
    let d = decode_row(&s, &row("-9007199254740992", "0")).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&d.value).unwrap()["n"],
        json!(-9_007_199_254_740_992_i64)
    );
    let e = decode_row(&s, &row("1", "253402300800000000")).unwrap_err();
    assert!(
        e.0.contains("column `seen`") && e.0.contains("not a valid TIMESTAMP"),
        "{e:?}"
    );
    let long = "9".repeat(5_000);
    let e = decode_row(&s, &row(&long, "0")).unwrap_err();
    assert!(
        e.0.len() < 200,
        "the reason quotes a short excerpt: {} bytes",
        e.0.len()
    );
    let e = decode_row(
        &s,
        &json!({"f":[{"v":"k"},{"v":"-99999999999999999"},{"v":"1"},{"v":"0"}]}),
    )
    .unwrap_err();
    assert!(e.0.contains("column `updated_at`"), "{e:?}");
}

#[test]
fn a_large_string_takes_its_size_once_and_the_next_row_starts_small() {
    // A value that grows by doubling holds twice its size (and three times
    // while it moves); a row after a large one must not start that large.
    let s = schema(json!([
        {"name": "key", "type": "STRING"},
        {"name": "updated_at", "type": "TIMESTAMP"},
        {"name": "payload", "type": "STRING"}
    ]));
    let big = "x".repeat(4 * 1024 * 1024);
    let rows = format!(
        r#"[{{"f":[{{"v":"a"}},{{"v":"1"}},{{"v":"{big}"}}]}},{{"f":[{{"v":"b"}},{{"v":"2"}},{{"v":"small"}}]}}]"#
    );
    let decoded = decode_rows(&s, &rows).unwrap();
    let first = decoded[0].as_ref().unwrap();
    assert_eq!(first.value.len(), big.len() + r#"{"payload":""}"#.len());
    assert!(
        first.value.capacity() < first.value.len() + 8 * 1024,
        "{}",
        first.value.capacity()
    );
    let second = decoded[1].as_ref().unwrap();
    assert!(
        second.value.capacity() <= 64 * 1024,
        "{}",
        second.value.capacity()
    );
}
