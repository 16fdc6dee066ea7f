//! Which of two versions of a key wins: the newer `updated_at`, and at the
//! same `updated_at` a delete over a put.
//!
//! Pushes arrive at least once and in any order, and a pull may read a
//! version older than one a push already wrote (its query ran before the
//! row changed). Ordering every version of a key by its source stamp lets
//! each be applied on arrival or dropped as stale, whichever came first.
//! A delete outranks a put of the same stamp: a `CHANGES()` delete carries
//! the deleted row's own `updated_at`, and a redelivered insert of that row
//! must not bring it back.

use super::ports::StoredHash;
use super::record::ContentHash;
use super::time::Micros;

/// Whether a version stamped `updated_at` (a delete when `delete`) is older
/// than what kv-sync last wrote for its key, and so changes nothing. A
/// stored key without a stamp (written before stamps were kept, or under
/// way) never makes a version stale.
pub fn is_stale(stored: &StoredHash, updated_at: Micros, delete: bool) -> bool {
    let Some(stored_at) = stored.updated_at else {
        return false;
    };
    if stored.hash == ContentHash::UNCONFIRMED {
        return false;
    }
    let stored_delete = stored.hash == ContentHash::DELETED;
    (updated_at, delete) < (stored_at, stored_delete)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(hash: ContentHash, updated_at: Micros) -> StoredHash {
        StoredHash {
            hash,
            written_at: 0,
            updated_at: Some(updated_at),
            by_push: true,
        }
    }

    #[test]
    fn the_newer_stamp_wins_and_a_delete_outranks_a_put_of_the_same_stamp() {
        let value = stored(ContentHash(7), 100);
        assert!(is_stale(&value, 99, false));
        assert!(is_stale(&value, 99, true));
        assert!(!is_stale(&value, 100, false), "same stamp: hashes decide");
        assert!(
            !is_stale(&value, 100, true),
            "the delete of what was written"
        );
        assert!(!is_stale(&value, 101, false));
        let tombstone = stored(ContentHash::DELETED, 100);
        assert!(is_stale(&tombstone, 100, false), "a redelivered insert");
        assert!(!is_stale(&tombstone, 100, true));
        assert!(!is_stale(&tombstone, 101, false), "inserted again");
    }

    #[test]
    fn an_unknown_or_unconfirmed_version_makes_nothing_stale() {
        let mut old = stored(ContentHash(7), 100);
        old.updated_at = None;
        assert!(!is_stale(&old, 1, false));
        assert!(!is_stale(&stored(ContentHash::UNCONFIRMED, 100), 1, false));
    }
}
