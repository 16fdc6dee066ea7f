//! What a pushed row does to its key, decided from what kv-sync last wrote
//! there (`engine::precedence` orders the versions).

use serde::Serialize;

use crate::engine::ports::StoredHash;
use crate::engine::precedence::is_stale;
use crate::engine::record::{Change, ContentHash, SourceRecord};
use crate::engine::time::{Micros, MICROS_PER_SECOND};

/// KV accepts one write a second to a key.
pub const KEY_WRITE_GAP: Micros = MICROS_PER_SECOND;

/// What was done with one delivery, as `/push` answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PushOutcome {
    Written,
    Deleted,
    /// KV already holds this value (a redelivery, or a pull got there first).
    Unchanged,
    /// Older than what kv-sync last wrote for the key.
    Stale,
    /// The row can never be written: it is among the failed rows.
    Failed,
}

/// What to do with a pushed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Apply,
    Skip(PushOutcome),
    /// The key was written under a second ago, or a run is writing it now:
    /// answered `503`, so Pub/Sub delivers it again a little later.
    Defer(&'static str),
}

/// Decides a pushed record against the key's stored state. `run_active`:
/// a run holds the lease, so a key it marked unconfirmed is being written.
pub fn decide(
    record: &SourceRecord,
    stored: Option<&StoredHash>,
    run_active: bool,
    now: Micros,
) -> Verdict {
    let Some(stored) = stored else {
        return Verdict::Apply;
    };
    let delete = record.change == Change::Delete;
    if stored.hash == ContentHash::UNCONFIRMED && run_active {
        return Verdict::Defer("a run is writing this key now");
    }
    if is_stale(stored, record.position.updated_at, delete) {
        return Verdict::Skip(PushOutcome::Stale);
    }
    if stored.hash == record.hash {
        return Verdict::Skip(PushOutcome::Unchanged);
    }
    if now - stored.written_at < KEY_WRITE_GAP {
        return Verdict::Defer(
            "this key was written less than a second ago (KV allows one write a second)",
        );
    }
    Verdict::Apply
}

/// The `push` counters of `/status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PushCounters {
    pub received: u64,
    pub written: u64,
    pub deleted: u64,
    pub unchanged: u64,
    pub stale: u64,
    pub failed: u64,
    pub last_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cursor::Cursor;

    const S: Micros = MICROS_PER_SECOND;

    fn record(updated_at: Micros, hash: u64) -> SourceRecord {
        SourceRecord {
            position: Cursor::new(updated_at, "k".to_string()),
            change: Change::Put { value: "{}".into() },
            hash: ContentHash(hash),
        }
    }

    fn stored(hash: ContentHash, updated_at: Micros, written_at: Micros) -> StoredHash {
        StoredHash {
            hash,
            written_at,
            updated_at: Some(updated_at),
            by_push: false,
        }
    }

    #[test]
    fn a_new_key_is_written_and_a_known_one_only_when_newer_and_different() {
        assert_eq!(decide(&record(5, 7), None, false, 0), Verdict::Apply);
        let held = stored(ContentHash(7), 5, 0);
        assert_eq!(
            decide(&record(5, 7), Some(&held), false, 10 * S),
            Verdict::Skip(PushOutcome::Unchanged)
        );
        assert_eq!(
            decide(&record(4, 8), Some(&held), false, 10 * S),
            Verdict::Skip(PushOutcome::Stale)
        );
        assert_eq!(
            decide(&record(6, 8), Some(&held), false, 10 * S),
            Verdict::Apply
        );
    }

    #[test]
    fn a_key_written_under_a_second_ago_or_being_written_by_a_run_waits() {
        let held = stored(ContentHash(7), 5, 10 * S);
        assert!(matches!(
            decide(&record(6, 8), Some(&held), false, 10 * S + S / 2),
            Verdict::Defer(_)
        ));
        assert_eq!(
            decide(&record(6, 8), Some(&held), false, 11 * S),
            Verdict::Apply
        );
        let writing = stored(ContentHash::UNCONFIRMED, 5, 0);
        assert!(matches!(
            decide(&record(6, 8), Some(&writing), true, 10 * S),
            Verdict::Defer(_)
        ));
        assert_eq!(
            decide(&record(6, 8), Some(&writing), false, 10 * S),
            Verdict::Apply,
            "left over from a crash: no run is writing it"
        );
    }
}
