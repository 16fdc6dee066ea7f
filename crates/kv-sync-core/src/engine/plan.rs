//! Planning one batch of rows: what KV must do for each.
//!
//! Rows whose content hash equals what kv-sync last wrote are skipped (unless
//! a TTL refresh is due or the run rewrites everything), bad rows are
//! quarantined, and the batch is cut where the invocation's KV write budget
//! runs out. Values move from the rows into the operations: a batch holds
//! each value once.

use std::collections::HashMap;

use super::cursor::Cursor;
use super::error::StoreError;
use super::ports::{KvOp, StateStore, StoredHash};
use super::precedence::is_stale;
use super::record::{Change, Checked, ContentHash, Metadata, Quarantined, SourceRecord};
use super::time::Micros;

/// What a batch will do with one source row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Planned {
    Unchanged {
        position: Cursor,
        /// KV holds this value from an older version of the row: the
        /// stored `updated_at` is raised to this one (pushes compare with
        /// it), though nothing is written.
        newer: bool,
    },
    /// Written by the operation at this index of `BatchPlan::ops`.
    Write {
        position: Cursor,
        hash: ContentHash,
        delete: bool,
        op: usize,
    },
    Quarantine(Quarantined),
}

impl Planned {
    /// The row's key, if it has one (a quarantined row still names the key
    /// it holds in the source, so a full run does not count it gone).
    pub(crate) fn key(&self) -> Option<&str> {
        match self {
            Planned::Unchanged { position, .. } | Planned::Write { position, .. } => {
                Some(&position.key)
            }
            Planned::Quarantine(q) => q.key.as_deref(),
        }
    }
}

#[derive(Debug, PartialEq)]
pub(crate) struct BatchPlan {
    /// One entry per row covered, in source order; rows past the write
    /// budget are left for a later batch.
    pub rows: Vec<Planned>,
    pub ops: Vec<KvOp>,
}

/// The rules a batch is planned by.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WriteRules<'a> {
    pub now: Micros,
    /// With a KV TTL, unchanged values older than this are written again.
    pub refresh_after: Option<Micros>,
    /// Every value is written, whatever the stored hashes say (a forced
    /// rewrite repairs KV changed behind kv-sync's back).
    pub rewrite: bool,
    /// Written in front of every key in KV.
    pub key_prefix: &'a str,
    /// At most this many operations.
    pub write_budget: usize,
}

/// Plans the rows, asking the store once for all their hashes.
pub(crate) fn plan_batch<S: StateStore>(
    rows: Vec<Checked>,
    store: &S,
    rules: &WriteRules<'_>,
) -> Result<BatchPlan, StoreError> {
    let keys: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.as_ref().ok().map(SourceRecord::key))
        .collect();
    let stored = store.stored_hashes(&keys)?;
    let winners = winners(&rows);
    let mut stored = stored.into_iter();
    let mut plan = BatchPlan {
        rows: Vec::with_capacity(rows.len()),
        ops: Vec::new(),
    };
    for (i, row) in rows.into_iter().enumerate() {
        let record = match row {
            Ok(r) => r,
            Err(q) => {
                plan.rows.push(Planned::Quarantine(q));
                continue;
            }
        };
        let previous = stored.next().flatten();
        if !winners[i] || !needs_write(&record, previous.as_ref(), rules) {
            let newer = winners[i] && previous.is_some_and(|p| same_value_newer(&record, &p));
            plan.rows.push(Planned::Unchanged {
                position: record.position,
                newer,
            });
            continue;
        }
        if plan.ops.len() >= rules.write_budget {
            break;
        }
        plan.rows.push(Planned::Write {
            position: record.position.clone(),
            hash: record.hash,
            delete: record.change == Change::Delete,
            op: plan.ops.len(),
        });
        plan.ops.push(operation(record, rules));
    }
    Ok(plan)
}

/// A source that breaks "one row per key" must not race two writes to one
/// key, nor flip between two versions from run to run: of the rows of a key
/// in the batch only one is written, the newest, and of rows equally new the
/// one with the greater hash (the same one every time).
fn winners(rows: &[Checked]) -> Vec<bool> {
    let mut best: HashMap<&str, (usize, Micros, ContentHash)> = HashMap::with_capacity(rows.len());
    for (i, record) in rows.iter().enumerate() {
        let Ok(r) = record else { continue };
        let candidate = (i, r.position.updated_at, r.hash);
        best.entry(r.key())
            .and_modify(|b| {
                if (candidate.1, candidate.2) >= (b.1, b.2) {
                    *b = candidate;
                }
            })
            .or_insert(candidate);
    }
    let mut winners = vec![false; rows.len()];
    for (i, _, _) in best.into_values() {
        winners[i] = true;
    }
    winners
}

/// The row holds the value KV holds, in a version newer than the one
/// kv-sync last recorded (a touch without a change, or a version read
/// before as unchanged).
fn same_value_newer(record: &SourceRecord, previous: &StoredHash) -> bool {
    previous.hash == record.hash
        && previous
            .updated_at
            .is_none_or(|at| at < record.position.updated_at)
}

fn needs_write(
    record: &SourceRecord,
    previous: Option<&StoredHash>,
    rules: &WriteRules<'_>,
) -> bool {
    let Some(previous) = previous.filter(|_| !rules.rewrite) else {
        return true;
    };
    // A push wrote a newer version than this read found: the pull's query
    // ran before the row changed, and the next read finds the newer one.
    let delete = record.change == Change::Delete;
    if previous.by_push && is_stale(previous, record.position.updated_at, delete) {
        return false;
    }
    if previous.hash != record.hash {
        return true;
    }
    let is_put = matches!(record.change, Change::Put { .. });
    is_put
        && rules
            .refresh_after
            .is_some_and(|after| rules.now - previous.written_at >= after)
}

fn operation(record: SourceRecord, rules: &WriteRules<'_>) -> KvOp {
    kv_op(record, rules.key_prefix, rules.now)
}

/// The KV operation that applies `record` under `key_prefix`, its metadata
/// saying it was synced `now`: the same for a pulled row and a pushed one.
pub(crate) fn kv_op(record: SourceRecord, key_prefix: &str, now: Micros) -> KvOp {
    let key = format!("{key_prefix}{}", record.position.key);
    match record.change {
        Change::Put { value } => KvOp::Put {
            key,
            value,
            metadata: Metadata {
                updated_at: record.position.updated_at,
                synced_at: now,
            },
        },
        Change::Delete => KvOp::Delete { key },
    }
}
