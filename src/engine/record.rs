//! From a decoded row to what KV will hold, or to a quarantine reason.
//!
//! KV's own limits are checked here, before any write, so a bad row is set
//! aside with a reason instead of failing a batch and blocking the cursor.

use xxhash_rust::xxh3::xxh3_64;

use super::cursor::Cursor;
use super::row::DecodedRow;
use super::time::{to_rfc3339, Micros};

pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 25 * 1024 * 1024;
pub const MAX_METADATA_BYTES: usize = 1024;
/// kv-sync's metadata has a fixed shape (two RFC 3339 times), so its size
/// is known and far under KV's limit: no row can be refused for it.
const METADATA_BYTES: usize = 86;
const _: () = assert!(METADATA_BYTES <= MAX_METADATA_BYTES);

/// A 64-bit content hash. Kept as 16 hex digits wherever it is stored: as an
/// integer it would pass 2^53 and be rounded on its way through JavaScript.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContentHash(pub u64);

impl ContentHash {
    /// What a key that kv-sync deleted is remembered as.
    pub const DELETED: ContentHash = ContentHash(0);

    pub fn of_value(value_json: &str) -> Self {
        // 0 is reserved for DELETED; a real value hashing to 0 is moved off it.
        ContentHash(xxh3_64(value_json.as_bytes()).max(1))
    }

    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        u64::from_str_radix(text, 16).ok().map(ContentHash)
    }
}

/// What one valid source row asks of KV.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Put { value: String },
    Delete,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SourceRecord {
    pub position: Cursor,
    pub change: Change,
    pub hash: ContentHash,
}

/// A row set aside instead of written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    pub key: Option<String>,
    pub position: Option<Cursor>,
    pub reason: String,
    /// A digest of the row as BigQuery sent it, set by the reader: it tells
    /// apart rows that have no key, so each is counted once.
    pub digest: Option<ContentHash>,
}

impl Quarantined {
    /// What the row is remembered by among failed rows: its key, or for a
    /// row without one, its digest.
    pub fn identity(&self) -> String {
        match (&self.key, self.digest) {
            (Some(key), _) => key.clone(),
            (None, Some(digest)) => format!("(no key) {}", digest.to_hex()),
            (None, None) => "(no key)".into(),
        }
    }
}

impl SourceRecord {
    pub fn key(&self) -> &str {
        &self.position.key
    }
}

/// Validates a decoded row and serialises its value once.
pub fn to_record(row: DecodedRow) -> Result<SourceRecord, Quarantined> {
    let quarantine = |key: Option<String>, position: Option<Cursor>, reason: String| Quarantined {
        key,
        position,
        reason,
        digest: None,
    };
    let Some(key) = row.key.filter(|k| !k.is_empty()) else {
        return Err(quarantine(None, None, "key is null or empty".into()));
    };
    let Some(updated_at) = row.updated_at else {
        return Err(quarantine(Some(key), None, "updated_at is null".into()));
    };
    let position = Cursor::new(updated_at, key);
    if position.key.len() > MAX_KEY_BYTES {
        let reason = format!(
            "key is {} bytes; Workers KV allows at most {MAX_KEY_BYTES}",
            position.key.len()
        );
        return Err(quarantine(
            Some(truncate_key(&position.key)),
            Some(position),
            reason,
        ));
    }
    if row.deleted {
        return Ok(SourceRecord {
            position,
            change: Change::Delete,
            hash: ContentHash::DELETED,
        });
    }
    let value = row.value;
    if value.len() > MAX_VALUE_BYTES {
        let reason = format!(
            "value is {} bytes; Workers KV allows at most {MAX_VALUE_BYTES}",
            value.len()
        );
        return Err(quarantine(
            Some(position.key.clone()),
            Some(position),
            reason,
        ));
    }
    let hash = ContentHash::of_value(&value);
    Ok(SourceRecord {
        position,
        change: Change::Put { value },
        hash,
    })
}

/// The KV metadata written with each value: when the record last changed in
/// BigQuery and when kv-sync wrote it, so an edge reader can judge freshness.
pub fn metadata(updated_at: Micros, synced_at: Micros) -> String {
    format!(
        "{{\"updated_at\":\"{}\",\"synced_at\":\"{}\"}}",
        to_rfc3339(updated_at),
        to_rfc3339(synced_at)
    )
}

/// A quarantined over-long key is shown shortened, so `/status` stays small.
fn truncate_key(key: &str) -> String {
    let mut end = 64.min(key.len());
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &key[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    fn row(key: Option<&str>, updated_at: Option<Micros>, fields: Value) -> DecodedRow {
        DecodedRow {
            key: key.map(str::to_owned),
            updated_at,
            deleted: false,
            value: fields.to_string(),
        }
    }

    #[test]
    fn a_valid_row_becomes_a_put_with_a_stable_hash() {
        let r = to_record(row(Some("k"), Some(1), json!({"a": 1}))).unwrap();
        assert_eq!(
            r.change,
            Change::Put {
                value: "{\"a\":1}".into()
            }
        );
        let again = to_record(row(Some("k"), Some(99), json!({"a": 1}))).unwrap();
        assert_eq!(r.hash, again.hash, "updated_at alone is not content");
        let changed = to_record(row(Some("k"), Some(1), json!({"a": 2}))).unwrap();
        assert_ne!(r.hash, changed.hash);
        assert_eq!(ContentHash::from_hex(&r.hash.to_hex()), Some(r.hash));
    }

    #[test]
    fn bad_rows_are_quarantined_with_a_reason() {
        let e = to_record(row(None, Some(1), json!({}))).unwrap_err();
        assert_eq!(e.reason, "key is null or empty");
        let long = "x".repeat(513);
        let e = to_record(row(Some(&long), Some(1), json!({}))).unwrap_err();
        assert!(e.reason.contains("513 bytes"));
        assert_eq!(e.position.unwrap().key.len(), 513);
        let e = to_record(row(Some("k"), None, json!({}))).unwrap_err();
        assert_eq!(e.reason, "updated_at is null");
        let mut huge = Map::new();
        huge.insert("blob".into(), Value::String("y".repeat(MAX_VALUE_BYTES)));
        let e = to_record(row(Some("k"), Some(1), Value::Object(huge))).unwrap_err();
        assert!(e.reason.starts_with("value is"));
    }

    #[test]
    fn deletes_carry_the_deleted_hash() {
        let mut r = row(Some("k"), Some(1), json!({}));
        r.deleted = true;
        let rec = to_record(r).unwrap();
        assert_eq!(rec.change, Change::Delete);
        assert_eq!(rec.hash, ContentHash::DELETED);
    }

    #[test]
    fn metadata_is_small_json_of_a_fixed_size() {
        assert_eq!(metadata(0, 1_000_000).len(), METADATA_BYTES);
        assert_eq!(
            metadata(-62_135_596_800_000_000, 253_402_300_799_999_999).len(),
            METADATA_BYTES
        );
        let m: Value = serde_json::from_str(&metadata(0, 1_000_000)).unwrap();
        assert_eq!(m["synced_at"], "1970-01-01T00:00:01.000000Z");
    }
}
