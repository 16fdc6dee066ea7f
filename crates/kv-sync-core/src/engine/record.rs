//! From a row the warehouse read to what KV will hold, or to the reason the
//! row is set aside.
//!
//! KV's own limits are checked here, before any write, so a bad row is
//! quarantined with a reason instead of failing a batch and blocking the
//! cursor.

use serde::ser::{Serialize, SerializeStruct, Serializer};
use xxhash_rust::xxh3::xxh3_64;

use super::cursor::Cursor;
use super::excerpt::{excerpt, QUOTE_BYTES};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(pub u64);

impl ContentHash {
    /// What a key that kv-sync deleted is remembered as.
    pub const DELETED: ContentHash = ContentHash(0);
    /// What a key is remembered as while a write or delete of it is under
    /// way: if it lands and its answer or checkpoint is lost, kv-sync knows
    /// it does not know what KV holds, so the next read of the key writes
    /// it again and a full read deletes it if it left.
    pub const UNCONFIRMED: ContentHash = ContentHash(1);

    pub fn of(bytes: &[u8]) -> Self {
        // 0 and 1 are reserved; a real value hashing to them is moved off.
        ContentHash(xxh3_64(bytes).max(2))
    }

    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        u64::from_str_radix(text, 16).ok().map(ContentHash)
    }
}

/// A row as the warehouse decoded it: the reserved columns, and every other
/// column as one JSON object (the KV value).
#[derive(Clone, Debug, PartialEq)]
pub struct SourceRow {
    pub key: Option<String>,
    pub updated_at: Option<Micros>,
    pub deleted: bool,
    pub value: String,
}

/// A row the warehouse could not decode: a cell that contradicts its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Unreadable {
    pub key: Option<String>,
    pub reason: String,
    /// A digest of the row as it arrived, which tells keyless rows apart.
    pub digest: ContentHash,
}

/// One row of a result page.
pub type PageRow = Result<SourceRow, Unreadable>;

/// What one valid row asks of KV.
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

impl SourceRecord {
    pub fn key(&self) -> &str {
        &self.position.key
    }
}

/// A row set aside instead of written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantined {
    pub key: Option<String>,
    pub position: Option<Cursor>,
    pub reason: String,
    /// Tells apart rows that have no key, so each is counted once.
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

/// A row, checked: a record to apply, or the reason it is quarantined.
pub type Checked = Result<SourceRecord, Quarantined>;

/// Checks a row against KV's limits (`key_prefix` is put in front of every
/// key in KV, so it counts toward the key's size) and hashes its value.
pub fn check(row: PageRow, key_prefix: &str) -> Checked {
    let row = match row {
        Ok(row) => row,
        Err(u) => {
            return Err(Quarantined {
                key: u.key,
                position: None,
                reason: format!("cannot decode row: {}", excerpt(&u.reason, QUOTE_BYTES)),
                digest: Some(u.digest),
            })
        }
    };
    let Some(key) = row.key.filter(|k| !k.is_empty()) else {
        let digest = keyless_digest(row.updated_at, &row.value);
        return Err(set_aside(None, None, "key is null or empty".into(), digest));
    };
    let Some(updated_at) = row.updated_at else {
        let reason = "updated_at is null: the row has no place in the sync order".into();
        return Err(set_aside(Some(key), None, reason, None));
    };
    let position = Cursor::new(updated_at, key);
    let key_bytes = key_prefix.len() + position.key.len();
    if key_bytes > MAX_KEY_BYTES {
        let reason = format!("key is {key_bytes} bytes; Workers KV allows at most {MAX_KEY_BYTES}");
        // Shortened for the list, and told apart from every other key by
        // its digest: two long keys sharing their first bytes are two rows.
        let digest = ContentHash::of(position.key.as_bytes()).to_hex();
        let shown = format!("{} #{digest}", excerpt(&position.key, 64));
        return Err(set_aside(Some(shown), Some(position), reason, None));
    }
    if row.deleted {
        return Ok(SourceRecord {
            position,
            change: Change::Delete,
            hash: ContentHash::DELETED,
        });
    }
    if row.value.len() > MAX_VALUE_BYTES {
        let reason = format!(
            "value is {} bytes; Workers KV allows at most {MAX_VALUE_BYTES}",
            row.value.len()
        );
        return Err(set_aside(
            Some(position.key.clone()),
            Some(position),
            reason,
            None,
        ));
    }
    let hash = ContentHash::of(row.value.as_bytes());
    Ok(SourceRecord {
        position,
        change: Change::Put { value: row.value },
        hash,
    })
}

fn set_aside(
    key: Option<String>,
    position: Option<Cursor>,
    reason: String,
    digest: Option<ContentHash>,
) -> Quarantined {
    Quarantined {
        key,
        position,
        reason,
        digest,
    }
}

fn keyless_digest(updated_at: Option<Micros>, value: &str) -> Option<ContentHash> {
    let mut text = updated_at.map_or_else(String::new, |t| t.to_string());
    text.push_str(value);
    Some(ContentHash::of(text.as_bytes()))
}

/// The KV metadata written with each value: when the record last changed in
/// the source and when kv-sync wrote it, so an edge reader can judge
/// freshness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub updated_at: Micros,
    pub synced_at: Micros,
}

impl Serialize for Metadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Metadata", 2)?;
        s.serialize_field("updated_at", &to_rfc3339(self.updated_at))?;
        s.serialize_field("synced_at", &to_rfc3339(self.synced_at))?;
        s.end()
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
