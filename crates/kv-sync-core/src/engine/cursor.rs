//! The sync cursor: a high-water mark over `(updated_at, key)`.
//!
//! Ordering by `updated_at` alone skips rows whenever many rows share one
//! timestamp and a run stops in the middle of them. The key breaks the tie, so
//! the position "after row R" is exact even inside a block of equal
//! timestamps. `String`'s `Ord` compares bytes, which matches BigQuery's
//! default (binary) collation for `ORDER BY key`.

use serde::{Deserialize, Serialize};

use super::time::{to_rfc3339, Micros};

/// A position in the source's `(updated_at, key)` order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cursor {
    pub updated_at: Micros,
    pub key: String,
}

impl Cursor {
    pub fn new(updated_at: Micros, key: impl Into<String>) -> Self {
        Cursor {
            updated_at,
            key: key.into(),
        }
    }

    /// Progress never moves backward: the later of two optional positions.
    pub fn latest(a: Option<Cursor>, b: Option<Cursor>) -> Option<Cursor> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {:?})", to_rfc3339(self.updated_at), self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_on_updated_at_are_ordered_by_key() {
        assert!(Cursor::new(5, "a") < Cursor::new(5, "b"));
        assert!(Cursor::new(5, "z") < Cursor::new(6, "a"));
    }

    #[test]
    fn latest_never_moves_backward() {
        let old = Some(Cursor::new(10, "k"));
        assert_eq!(Cursor::latest(old.clone(), Some(Cursor::new(9, "z"))), old);
        assert_eq!(Cursor::latest(None, old.clone()), old);
    }
}
