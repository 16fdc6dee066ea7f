//! How a full run finds the keys that left the source without marking every
//! key it reads: it reads the source in key order and, batch by batch,
//! compares the stretch of the key space it has passed with the stored keys
//! in that stretch. A stored key the stretch did not hold is marked absent;
//! nothing is written for a key that is still there.
//!
//! The order is only what keeps this cheap, not what keeps it right: a key
//! read out of order (below the stretch already compared) has its mark
//! cleared as it is read, and every stored key falls in exactly one
//! stretch, so at the end of the read the marked keys are exactly those the
//! read did not hold.

use serde::{Deserialize, Serialize};

use super::time::Micros;

/// A full run's comparison with the stored keys, as far as it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyWalk {
    /// When the full read began. A key whose write (by a push or a run) was
    /// confirmed since is not compared: it was in the source after this
    /// read began, whatever the read's snapshot says. A write still
    /// unconfirmed proves nothing, so its key is compared. (Written in the same
    /// instant counts as before: the clock can stand still within one
    /// invocation, where a follow-up full run begins as the run before it
    /// ends, and the source query is only sent after this.)
    pub began_at: Micros,
    /// The stored keys up to here (inclusive) were compared; `None`: none
    /// yet. A re-query continues after it, in key order.
    pub compared_through: Option<String>,
}

/// A stretch of the key space a full run's read has passed, for the store
/// to compare: keys in `(after, through]` (`through: None`: to the end)
/// not written (and confirmed) after `written_until`, and not among the
/// keys the batch read, are absent from the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stretch<'a> {
    pub after: Option<&'a str>,
    pub through: Option<&'a str>,
    pub written_until: Micros,
}

impl KeyWalk {
    pub fn new(began_at: Micros) -> Self {
        KeyWalk {
            began_at,
            compared_through: None,
        }
    }

    /// Moves the walk past the keys a batch read; the new end of the
    /// compared stretch when it moved (a batch read wholly below it moves
    /// nothing: its keys only clear marks).
    pub fn pass(&mut self, read: &[String]) -> Option<String> {
        let highest = read.iter().max()?;
        if self.compared_through.as_ref().is_some_and(|c| c >= highest) {
            return None;
        }
        self.compared_through = Some(highest.clone());
        Some(highest.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn the_walk_moves_to_the_highest_key_read_and_never_back() {
        let mut walk = KeyWalk::new(5);
        assert_eq!(walk.pass(&keys(&["b", "d", "c"])), Some("d".into()));
        assert_eq!(walk.pass(&keys(&["a", "c"])), None);
        assert_eq!(walk.compared_through.as_deref(), Some("d"));
        assert_eq!(walk.pass(&keys(&["e"])), Some("e".into()));
        assert_eq!(walk.pass(&[]), None);
    }

    #[test]
    fn keys_compare_bytewise_as_sqlite_does() {
        // SQLite's BINARY collation compares UTF-8 bytes; so do Rust strings.
        let mut walk = KeyWalk::new(0);
        walk.pass(&keys(&["Z"]));
        assert_eq!(walk.pass(&keys(&["a"])), Some("a".into()));
        assert_eq!(walk.pass(&keys(&["é"])), Some("é".into()));
        assert_eq!(walk.pass(&keys(&["z"])), None);
    }
}
