//! How a sync writes its values. What KV holds was written under these: a
//! deploy that changes one (a TTL, a key prefix, a binding or namespace)
//! leaves every unchanged value as it was written, so the next run must
//! read the whole source and write every value again.

use serde::{Deserialize, Serialize};

use crate::engine::source_query::query_digest;
use crate::settings::deployment::RunSettings;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSettings {
    pub ttl_seconds: u64,
    pub key_prefix: String,
    pub kv_binding: String,
    pub kv_namespace_id: Option<String>,
    /// The query's digest, while another sync writes under the same prefix
    /// into the same namespace: a key the new query selects may hold that
    /// sync's value, which this one's hashes cannot see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_query: Option<String>,
}

impl WriteSettings {
    pub fn of(settings: &RunSettings) -> Self {
        let definition = &settings.definition;
        WriteSettings {
            ttl_seconds: definition.config.kv_expiration_ttl_seconds,
            key_prefix: definition.key_prefix.clone(),
            kv_binding: definition.kv_binding.clone(),
            kv_namespace_id: definition.kv_namespace_id.clone(),
            shared_query: (!settings.key_sharers.is_empty())
                .then(|| query_digest(&definition.config.query)),
        }
    }

    /// The prefixes whose keys must go once every value is written under
    /// these settings: those `retired` before, and `before`'s if the
    /// prefix changed, but never the prefix written now, and none when the
    /// values move to another namespace (the old one keeps what it has).
    pub fn retired_prefixes(&self, before: &WriteSettings, retired: &[String]) -> Vec<String> {
        if (&self.kv_binding, &self.kv_namespace_id)
            != (&before.kv_binding, &before.kv_namespace_id)
        {
            return Vec::new();
        }
        let mut prefixes = retired.to_vec();
        if before.key_prefix != self.key_prefix && !prefixes.contains(&before.key_prefix) {
            prefixes.push(before.key_prefix.clone());
        }
        prefixes.retain(|p| *p != self.key_prefix);
        prefixes
    }

    /// Why values written under `before` must be written again under
    /// these settings, naming each setting that changed.
    pub fn rewrite_reason(&self, before: &WriteSettings) -> Option<String> {
        let mut changed = Vec::new();
        if self.ttl_seconds != before.ttl_seconds {
            changed.push(format!(
                "KV_EXPIRATION_TTL_SECONDS ({} → {})",
                before.ttl_seconds, self.ttl_seconds
            ));
        }
        if self.key_prefix != before.key_prefix {
            changed.push(format!(
                "key_prefix ({:?} → {:?})",
                before.key_prefix, self.key_prefix
            ));
        }
        if self.kv_binding != before.kv_binding {
            changed.push(format!(
                "kv_binding ({} → {})",
                before.kv_binding, self.kv_binding
            ));
        }
        if self.kv_namespace_id != before.kv_namespace_id {
            changed.push("kv_namespace_id".to_string());
        }
        if self.shared_query.is_some() && self.shared_query != before.shared_query {
            changed.push("SYNC_QUERY (another sync writes under the same key_prefix)".to_string());
        }
        (!changed.is_empty()).then(|| {
            format!(
                "{} changed: every value is written again as the new settings say",
                changed.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(ttl: u64, prefix: &str) -> WriteSettings {
        WriteSettings {
            ttl_seconds: ttl,
            key_prefix: prefix.into(),
            kv_binding: "IDENTITY_STORE".into(),
            kv_namespace_id: None,
            shared_query: None,
        }
    }

    #[test]
    fn a_changed_setting_is_named_and_an_unchanged_one_asks_nothing() {
        let before = settings(3_600, "a:");
        assert_eq!(settings(3_600, "a:").rewrite_reason(&before), None);
        let ttl = settings(0, "a:").rewrite_reason(&before).unwrap();
        assert!(
            ttl.starts_with("KV_EXPIRATION_TTL_SECONDS (3600 → 0) changed"),
            "{ttl}"
        );
        let both = settings(0, "b:").rewrite_reason(&before).unwrap();
        assert!(both.contains("key_prefix (\"a:\" → \"b:\")"), "{both}");
    }

    #[test]
    fn retired_prefixes_pile_up_until_the_rewrite_and_never_include_the_current_one() {
        let a = settings(0, "a:");
        let b = settings(0, "b:");
        assert_eq!(b.retired_prefixes(&a, &[]), vec!["a:"]);
        assert_eq!(
            settings(0, "c:").retired_prefixes(&b, &["a:".into()]),
            vec!["a:", "b:"]
        );
        assert_eq!(a.retired_prefixes(&b, &["a:".into()]), vec!["b:"]);
        assert!(settings(60, "a:").retired_prefixes(&a, &[]).is_empty());
        let moved = WriteSettings {
            kv_binding: "OTHER_STORE".into(),
            ..b.clone()
        };
        assert!(moved.retired_prefixes(&a, &["x:".into()]).is_empty());
    }

    #[test]
    fn a_query_change_asks_for_a_rewrite_only_while_another_sync_shares_the_keys() {
        let alone = settings(0, "p:");
        let shared = |query: &str| WriteSettings {
            shared_query: Some(query.into()),
            ..alone.clone()
        };
        let reason = shared("q1").rewrite_reason(&alone).unwrap();
        assert!(reason.starts_with("SYNC_QUERY (another sync"), "{reason}");
        assert!(shared("q2").rewrite_reason(&shared("q1")).is_some());
        assert_eq!(shared("q1").rewrite_reason(&shared("q1")), None);
        assert_eq!(
            alone.rewrite_reason(&shared("q1")),
            None,
            "no longer shared"
        );
    }
}
