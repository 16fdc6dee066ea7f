//! Named syncs: the default one (`SYNC_QUERY` into `IDENTITY_STORE`) and
//! those `SYNCS` adds, each with its own query, KV binding, key prefix and
//! settings, and its own coordinator.
//!
//! `SYNCS` is a JSON array, e.g.
//! `[{"name": "companies", "query": "SELECT …", "kv_binding": "COMPANY_STORE",
//!    "key_prefix": "co:", "interval_seconds": 300}]`. A setting an entry does
//! not give comes from the Worker's var of the same meaning. A mistake is a
//! configuration error naming the entry and the field.

use serde_json::{Map, Value};

use crate::settings::table::SETTINGS;
use crate::settings::{ConfigError, SyncConfig};

/// The name of the sync every deployment has.
pub const DEFAULT_SYNC: &str = "default";

/// The KV binding a sync writes through unless it names another.
pub const DEFAULT_BINDING: &str = "IDENTITY_STORE";

/// One sync of the deployment.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncDefinition {
    pub name: String,
    pub kv_binding: String,
    /// Put in front of every key the sync writes; a sync only ever deletes
    /// keys under its own prefix.
    pub key_prefix: String,
    /// The namespace id of `kv_binding`, for the KV bulk REST API.
    pub kv_namespace_id: Option<String>,
    pub config: SyncConfig,
}

/// An entry's fields and the Worker vars they stand in for.
fn setting_fields() -> impl Iterator<Item = (&'static str, &'static str)> {
    SETTINGS
        .iter()
        .filter_map(|s| s.field.map(|field| (field, s.var)))
}

/// Fields that are the sync's own, not settings.
const OWN: &[&str] = &["name", "kv_binding", "key_prefix", "kv_namespace_id"];

/// One sync's definition, read in full, or `None` when there is no such
/// sync. Only this sync's settings are read: a mistake in another entry's
/// settings is that sync's error, so syncs never stop each other.
pub fn read_sync(
    var: impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<SyncDefinition>, ConfigError> {
    if name == DEFAULT_SYNC {
        return Ok(Some(SyncDefinition {
            name: DEFAULT_SYNC.into(),
            kv_binding: DEFAULT_BINDING.into(),
            key_prefix: String::new(),
            kv_namespace_id: var("KV_NAMESPACE_ID").filter(|v| !v.trim().is_empty()),
            config: SyncConfig::from_vars(&var)?,
        }));
    }
    for (i, entry) in entries(&var)?.iter().enumerate() {
        if entry.get("name").and_then(Value::as_str) == Some(name) {
            return entry_definition(i, entry, &var).map(Some);
        }
    }
    Ok(None)
}

/// The names of every sync, the default one first, with `SYNCS` checked as
/// far as routing needs (entries, names, fields, queries). The settings are
/// not read here: a sync's coordinator reads them and reports a mistake in
/// them as its run's error and in its `/status`, which must stay readable.
pub fn sync_names(var: impl Fn(&str) -> Option<String>) -> Result<Vec<String>, ConfigError> {
    let mut names = vec![DEFAULT_SYNC.to_string()];
    for (i, entry) in entries(&var)?.iter().enumerate() {
        let (name, _) = entry_fields(i, entry)?;
        if names.contains(&name) {
            return Err(used_twice(i, &name));
        }
        names.push(name);
    }
    Ok(names)
}

/// The other syncs that write under the same prefix into the same
/// namespace (the same binding, or the same namespace id): a key may pass
/// between them, so each checks who wrote a key last before deleting it.
/// Only the entries' own fields are read, so a mistake in another sync's
/// settings does not change this one's.
pub fn key_sharers(var: impl Fn(&str) -> Option<String>, sync: &SyncDefinition) -> Vec<String> {
    let namespace_var = || var("KV_NAMESPACE_ID").filter(|v| !v.trim().is_empty());
    let default = (
        DEFAULT_SYNC.to_string(),
        DEFAULT_BINDING.to_string(),
        String::new(),
        namespace_var(),
    );
    let entries = entries(&var).unwrap_or_default();
    let named = entries.iter().filter_map(|entry| {
        let own = |field| entry.get(field).and_then(Value::as_str).map(str::to_string);
        let binding = own("kv_binding").unwrap_or_else(|| DEFAULT_BINDING.into());
        let namespace = own("kv_namespace_id")
            .or_else(|| (binding == DEFAULT_BINDING).then(namespace_var).flatten());
        Some((
            own("name")?,
            binding,
            own("key_prefix").unwrap_or_default(),
            namespace,
        ))
    });
    std::iter::once(default)
        .chain(named)
        .filter(|(name, binding, prefix, namespace)| {
            let same_namespace = *binding == sync.kv_binding
                || namespace.is_some() && *namespace == sync.kv_namespace_id;
            *name != sync.name && same_namespace && *prefix == sync.key_prefix
        })
        .map(|(name, ..)| name)
        .collect()
}

/// `SYNCS` as a JSON array (empty when unset).
fn entries(var: &impl Fn(&str) -> Option<String>) -> Result<Vec<Value>, ConfigError> {
    let Some(text) = var("SYNCS").filter(|t| !t.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&text).map_err(|e| {
        ConfigError::invalid(
            "SYNCS",
            "(see wrangler.toml)",
            format!("must be a JSON array of syncs: {e}"),
        )
    })
}

fn used_twice(index: usize, name: &str) -> ConfigError {
    field_error(
        index,
        name,
        "name",
        "is used twice (\"default\" is the built-in sync)",
    )
}

fn field_error(index: usize, name: &str, field: &str, reason: impl Into<String>) -> ConfigError {
    let var = if name.is_empty() {
        format!("SYNCS[{index}].{field}")
    } else {
        format!("SYNCS[{index}] ({name}).{field}")
    };
    ConfigError {
        var,
        value: None,
        reason: reason.into(),
    }
}

/// A field's text: a JSON string, or a number written as text.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn entry_definition(
    index: usize,
    entry: &Value,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<SyncDefinition, ConfigError> {
    let (name, fields) = entry_fields(index, entry)?;
    let own = |field: &str| -> Result<Option<String>, ConfigError> {
        match fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(field_error(index, &name, field, "must be a string")),
        }
    };
    let config = entry_config(index, &name, fields, var)?;
    let kv_binding = own("kv_binding")?.unwrap_or_else(|| DEFAULT_BINDING.into());
    // A sync into IDENTITY_STORE shares its namespace id.
    let kv_namespace_id = match own("kv_namespace_id")? {
        Some(id) => Some(id),
        None if kv_binding == DEFAULT_BINDING => {
            var("KV_NAMESPACE_ID").filter(|v| !v.trim().is_empty())
        }
        None => None,
    };
    Ok(SyncDefinition {
        kv_binding,
        key_prefix: own("key_prefix")?.unwrap_or_default(),
        kv_namespace_id,
        config,
        name,
    })
}

/// An entry's name and fields, once its name is valid, its fields known and
/// its query given.
fn entry_fields(index: usize, entry: &Value) -> Result<(String, &Map<String, Value>), ConfigError> {
    let Value::Object(fields) = entry else {
        return Err(field_error(
            index,
            "",
            "",
            "must be an object such as {\"name\": …, \"query\": …}",
        ));
    };
    let name = fields
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    check_fields(index, &name, fields)?;
    Ok((name, fields))
}

/// An entry's name is valid, its fields known, its query given.
fn check_fields(index: usize, name: &str, fields: &Map<String, Value>) -> Result<(), ConfigError> {
    if !valid_name(name) {
        return Err(field_error(
            index,
            name,
            "name",
            "must match [a-z0-9_-]{1,32}",
        ));
    }
    for key in fields.keys() {
        let known = OWN.contains(&key.as_str()) || setting_fields().any(|(f, _)| f == key);
        if !known {
            return Err(field_error(index, name, key, "is not a setting of a sync"));
        }
    }
    if fields
        .get("query")
        .and_then(text_of)
        .is_none_or(|q| q.trim().is_empty())
    {
        return Err(field_error(
            index,
            name,
            "query",
            "is required: the SQL this sync reads",
        ));
    }
    Ok(())
}

/// The entry's settings over the deployment's vars.
fn entry_config(
    index: usize,
    name: &str,
    fields: &Map<String, Value>,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<SyncConfig, ConfigError> {
    for (field, _) in setting_fields() {
        if fields.get(field).is_some_and(|v| text_of(v).is_none()) {
            return Err(field_error(
                index,
                name,
                field,
                "must be a string or a number",
            ));
        }
    }
    let lookup = |var_name: &str| match setting_fields().find(|(_, v)| *v == var_name) {
        Some((field, _)) if fields.contains_key(field) => fields.get(field).and_then(text_of),
        _ => var(var_name),
    };
    SyncConfig::from_vars(lookup).map_err(|e| {
        match setting_fields().find(|(field, v)| *v == e.var && fields.contains_key(*field)) {
            Some((field, _)) => ConfigError {
                value: e.value,
                ..field_error(index, name, field, e.reason)
            },
            None => e,
        }
    })
}

/// `[a-z0-9_-]{1,32}`: safe in a URL, a log line and a Durable Object name.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The Durable Object name of a sync's coordinator. The default sync keeps
/// the name it had before named syncs, so a deployment's state carries over.
pub fn coordinator_name(sync: &str) -> String {
    if sync == DEFAULT_SYNC {
        "kv-sync".into()
    } else {
        format!("sync:{sync}")
    }
}

#[cfg(test)]
#[path = "syncs_tests.rs"]
mod tests;
