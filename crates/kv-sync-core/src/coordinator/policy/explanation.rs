//! `GET /keys/KEY`: what kv-sync knows of one key, and whether KV holds
//! what kv-sync last wrote there. The most common support question of a
//! sync tool ("why does the edge still show the old value?") answered from
//! the store and one KV read.

use serde::Serialize;

use crate::engine::record::ContentHash;
use crate::engine::time::{to_rfc3339, Micros};

/// What the store holds for the key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyFacts {
    /// Its `key_hashes` row: hash, written at, source `updated_at`, by a
    /// push, the run that wrote it.
    pub written: Option<WrittenFacts>,
    /// Its `failed_rows` entry: why, and when.
    pub failed: Option<(String, Micros)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenFacts {
    pub hash: ContentHash,
    pub written_at: Micros,
    pub updated_at: Option<Micros>,
    pub by_push: bool,
    pub run: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Written,
    Deleted,
    Failed,
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KvNow {
    pub present: bool,
    /// KV holds what kv-sync last wrote (nothing, for a deleted, failed or
    /// unknown key).
    pub matches: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyExplanation {
    pub key: String,
    pub sync: String,
    pub kv_key: String,
    pub known: bool,
    pub state: KeyState,
    pub updated_at: Option<String>,
    pub last_written_at: Option<String>,
    pub written_by: Option<&'static str>,
    pub run: Option<u64>,
    pub failed_reason: Option<String>,
    pub kv: KvNow,
}

/// Puts the facts together with what KV holds now (`kv_value`).
pub fn explain(
    key: &str,
    sync: &str,
    prefix: &str,
    facts: KeyFacts,
    kv_value: Option<&str>,
) -> KeyExplanation {
    let written = facts.written.as_ref();
    let state = match (&facts.failed, written.map(|w| w.hash)) {
        (Some(_), _) => KeyState::Failed,
        (None, Some(ContentHash::DELETED)) => KeyState::Deleted,
        (None, Some(_)) => KeyState::Written,
        (None, None) => KeyState::Unknown,
    };
    let holds_value = written.is_some_and(|w| w.hash != ContentHash::DELETED);
    let matches = match (written, kv_value) {
        (Some(w), Some(value)) if holds_value => ContentHash::of(value.as_bytes()) == w.hash,
        (_, present) => !holds_value && present.is_none(),
    };
    KeyExplanation {
        key: key.to_string(),
        sync: sync.to_string(),
        kv_key: format!("{prefix}{key}"),
        known: written.is_some() || facts.failed.is_some(),
        state,
        updated_at: written.and_then(|w| w.updated_at).map(to_rfc3339),
        last_written_at: written.map(|w| to_rfc3339(w.written_at)),
        written_by: written.map(|w| if w.by_push { "push" } else { "run" }),
        run: written.and_then(|w| w.run),
        failed_reason: facts.failed.map(|(reason, _)| reason),
        kv: KvNow {
            present: kv_value.is_some(),
            matches,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(value: &str) -> KeyFacts {
        KeyFacts {
            written: Some(WrittenFacts {
                hash: ContentHash::of(value.as_bytes()),
                written_at: 2,
                updated_at: Some(1),
                by_push: false,
                run: Some(7),
            }),
            failed: None,
        }
    }

    #[test]
    fn a_written_key_matches_until_kv_is_changed_behind_kv_syncs_back() {
        let e = explain("a", "default", "lead:", written("{}"), Some("{}"));
        assert_eq!(
            (e.state, e.known, e.kv_key.as_str()),
            (KeyState::Written, true, "lead:a")
        );
        assert_eq!((e.written_by, e.run), (Some("run"), Some(7)));
        assert!(e.kv.present && e.kv.matches);
        let tampered = explain("a", "default", "", written("{}"), Some("{\"x\":1}"));
        assert!(tampered.kv.present && !tampered.kv.matches);
        let gone = explain("a", "default", "", written("{}"), None);
        assert!(!gone.kv.present && !gone.kv.matches);
    }

    #[test]
    fn deleted_failed_and_unknown_keys_match_an_empty_kv() {
        let mut deleted = written("{}");
        deleted.written.as_mut().unwrap().hash = ContentHash::DELETED;
        assert_eq!(
            explain("a", "d", "", deleted.clone(), None).state,
            KeyState::Deleted
        );
        assert!(explain("a", "d", "", deleted, None).kv.matches);
        let failed = KeyFacts {
            written: None,
            failed: Some(("key is 600 bytes".into(), 5)),
        };
        let e = explain("a", "d", "", failed, None);
        assert_eq!(
            (e.state, e.failed_reason.as_deref()),
            (KeyState::Failed, Some("key is 600 bytes"))
        );
        let unknown = explain("a", "d", "", KeyFacts::default(), Some("{}"));
        assert_eq!(
            (unknown.state, unknown.known, unknown.kv.matches),
            (KeyState::Unknown, false, false)
        );
    }
}
