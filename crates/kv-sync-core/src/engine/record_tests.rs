use super::*;
use serde_json::{json, Map, Value};

fn row(key: Option<&str>, updated_at: Option<Micros>, fields: Value) -> PageRow {
    Ok(SourceRow {
        key: key.map(str::to_owned),
        updated_at,
        deleted: false,
        value: fields.to_string(),
    })
}

#[test]
fn a_valid_row_becomes_a_put_with_a_stable_hash() {
    let r = check(row(Some("k"), Some(1), json!({"a": 1})), "").unwrap();
    assert_eq!(
        r.change,
        Change::Put {
            value: "{\"a\":1}".into()
        }
    );
    let again = check(row(Some("k"), Some(99), json!({"a": 1})), "").unwrap();
    assert_eq!(r.hash, again.hash, "updated_at alone is not content");
    let changed = check(row(Some("k"), Some(1), json!({"a": 2})), "").unwrap();
    assert_ne!(r.hash, changed.hash);
    assert_eq!(ContentHash::from_hex(&r.hash.to_hex()), Some(r.hash));
}

#[test]
fn bad_rows_are_quarantined_with_a_reason() {
    let e = check(row(None, Some(1), json!({})), "").unwrap_err();
    assert_eq!(e.reason, "key is null or empty");
    assert!(
        e.digest.is_some(),
        "a keyless row is told apart by its digest"
    );
    let long = "x".repeat(513);
    let e = check(row(Some(&long), Some(1), json!({})), "").unwrap_err();
    assert!(e.reason.contains("513 bytes"));
    assert_eq!(e.position.unwrap().key.len(), 513);
    let shown = e.key.unwrap();
    assert!(shown.len() < 100, "the shown key is shortened");
    let twin = format!("{}y", "x".repeat(512));
    let other = check(row(Some(&twin), Some(1), json!({})), "").unwrap_err();
    assert_ne!(
        other.identity(),
        shown,
        "two long keys with the same first bytes are two failed rows"
    );
    let e = check(row(Some("k"), None, json!({})), "").unwrap_err();
    assert!(e.reason.starts_with("updated_at is null"), "{}", e.reason);
    let mut huge = Map::new();
    huge.insert("blob".into(), Value::String("y".repeat(MAX_VALUE_BYTES)));
    let e = check(row(Some("k"), Some(1), Value::Object(huge)), "").unwrap_err();
    assert!(e.reason.starts_with("value is"));
}

#[test]
fn the_key_prefix_counts_toward_the_key_limit() {
    let key = "k".repeat(500);
    assert!(check(row(Some(&key), Some(1), json!({})), "").is_ok());
    let e = check(row(Some(&key), Some(1), json!({})), "company:12345:").unwrap_err();
    assert!(e.reason.contains("514 bytes"), "{}", e.reason);
}

#[test]
fn deletes_carry_the_deleted_hash() {
    let mut r = row(Some("k"), Some(1), json!({})).unwrap();
    r.deleted = true;
    let rec = check(Ok(r), "").unwrap();
    assert_eq!(rec.change, Change::Delete);
    assert_eq!(rec.hash, ContentHash::DELETED);
}

#[test]
fn metadata_is_small_json_of_a_fixed_size() {
    let text = |updated_at, synced_at| {
        serde_json::to_string(&Metadata {
            updated_at,
            synced_at,
        })
        .unwrap()
    };
    assert_eq!(text(0, 1_000_000).len(), METADATA_BYTES);
    assert_eq!(
        text(-62_135_596_800_000_000, 253_402_300_799_999_999).len(),
        METADATA_BYTES
    );
    let m: Value = serde_json::from_str(&text(0, 1_000_000)).unwrap();
    assert_eq!(m["synced_at"], "1970-01-01T00:00:01.000000Z");
    assert_eq!(m["updated_at"], "1970-01-01T00:00:00.000000Z");
}
