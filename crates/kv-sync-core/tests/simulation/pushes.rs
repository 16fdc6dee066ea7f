//! Pub/Sub in the simulation: rows of the source delivered to `POST /push`
//! at random moments, at least once (some twice), out of order (an older
//! version after a newer one), and deletes of keys the source dropped, as
//! a `CHANGES()` continuous query publishes them.
//!
//! Only versions the source really had are pushed, and never one stamped
//! after the source's current row: per key the newest `updated_at` wins,
//! so the oracle's "KV holds what the source holds" stays the truth. The
//! source in turn never stamps a new version of a pushed key before what
//! was pushed (`Sync::stamp_after_pushes`).

use std::collections::BTreeMap;

use kv_sync_core::engine::time::{to_rfc3339, Micros};
use serde_json::{json, Value};

use crate::deployment::Sync;
use crate::support::fakes::warehouse::Lead;
use crate::support::rng::Rng;
use crate::Coverage;

/// Every version of every key the source ever had, and the newest stamp
/// pushed for each key.
#[derive(Default)]
pub struct PushHistory {
    pub versions: BTreeMap<String, Vec<Lead>>,
    pub pushed_at: BTreeMap<String, Micros>,
}

/// A row as `TO_JSON_STRING` renders it.
fn rendered(row: &Lead, delete: bool) -> Value {
    let mut data = json!({
        "key": row.key, "updated_at": row.updated_at.map(to_rfc3339),
        "deleted": row.deleted, "name": row.name, "visits": row.visits,
    });
    if delete {
        data["_CHANGE_TYPE"] = json!("DELETE");
    }
    data
}

/// The version to push of `key`: its current one or an older one stamped
/// before it, or its delete once the source dropped it; `None` when it has
/// none KV can hold.
fn pick(sync: &Sync, key: &str, rng: &mut Rng) -> Option<(Lead, bool)> {
    let versions = sync.pushes.versions.get(key)?;
    let current = sync.world.warehouse().rows.get(key).cloned();
    let Some(current) = current else {
        let last = versions.last()?.clone();
        return last.updated_at.map(|_| (last, true));
    };
    let at = current.updated_at?;
    let older: Vec<&Lead> = versions
        .iter()
        .filter(|v| v.updated_at.is_some_and(|t| t < at))
        .collect();
    if !older.is_empty() && rng.chance(0.3) {
        let i = rng.range(0, older.len() as u64 - 1) as usize;
        return Some((older[i].clone(), false));
    }
    Some((current, false))
}

/// Pub/Sub delivers one row of the source (twice, now and then).
pub fn push_a_row(sync: &mut Sync, rng: &mut Rng, cov: &mut Coverage) {
    let keys: Vec<String> = sync.pushes.versions.keys().cloned().collect();
    if keys.is_empty() {
        return;
    }
    let key = keys[rng.range(0, keys.len() as u64 - 1) as usize].clone();
    if !sync.accepts(&key) {
        return;
    }
    let Some((row, delete)) = pick(sync, &key, rng) else {
        return;
    };
    let at = row.updated_at.expect("only stamped versions are pushed");
    let newest = sync.pushes.pushed_at.entry(key.clone()).or_insert(at);
    *newest = (*newest).max(at);
    let data = rendered(&row, delete);
    if std::env::var("SIM_TRACE").is_ok() {
        eprintln!("TRACE {} push {data}", sync.prefix);
    }
    for _ in 0..1 + rng.chance(0.2) as usize {
        cov.pushes += 1;
        sync.world.push(&data);
    }
}
