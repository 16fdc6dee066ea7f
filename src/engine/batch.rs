//! Planning one batch of rows and reading KV's answer for it.
//!
//! Planning decides, per row, whether KV must change: rows whose content hash
//! equals what kv-sync last wrote are skipped (unless a TTL refresh is due),
//! bad rows are quarantined, and the batch is cut where the invocation's KV
//! write budget runs out. Acknowledging turns KV's per-operation answers into
//! a checkpoint that covers only the rows before the first transient failure.

use std::collections::HashMap;

use super::checkpoint::RunCounters;
use super::cursor::Cursor;
use super::error::{SinkError, StoreError};
use super::ports::{KvOp, StateStore, StoredHash, WrittenKey};
use super::record::{metadata, Change, ContentHash, Quarantined, SourceRecord};
use super::row::SourceRow;
use super::time::Micros;

/// What a batch will do with one source row.
#[derive(Clone, Debug, PartialEq)]
pub enum Planned {
    Unchanged {
        position: Cursor,
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

#[derive(Debug, PartialEq)]
pub struct BatchPlan {
    /// One entry per row covered, in source order; rows past the write
    /// budget are left for the next batch.
    pub rows: Vec<Planned>,
    pub ops: Vec<KvOp>,
}

/// Plans the rows, asking the store once for all their hashes.
pub fn plan_batch<S: StateStore>(
    records: &[SourceRow],
    store: &S,
    now: Micros,
    refresh_after: Option<Micros>,
    write_budget: u32,
) -> Result<BatchPlan, StoreError> {
    let keys: Vec<&str> = records
        .iter()
        .filter_map(|r| r.as_ref().ok().map(SourceRecord::key))
        .collect();
    let stored = store.stored_hashes(&keys)?;
    // A source that breaks "one row per key" must not race two writes to one
    // key: only the last row of a key in the batch is written.
    let mut last_of_key: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
    for (i, record) in records.iter().enumerate() {
        if let Ok(r) = record {
            last_of_key.insert(r.key(), i);
        }
    }
    let mut stored = stored.into_iter();
    let mut plan = BatchPlan {
        rows: Vec::with_capacity(records.len()),
        ops: Vec::new(),
    };
    for (i, record) in records.iter().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(q) => {
                plan.rows.push(Planned::Quarantine(q.clone()));
                continue;
            }
        };
        let previous = stored.next().flatten();
        if last_of_key[record.key()] != i || !needs_write(record, previous, now, refresh_after) {
            plan.rows.push(Planned::Unchanged {
                position: record.position.clone(),
            });
            continue;
        }
        if plan.ops.len() as u32 >= write_budget {
            break;
        }
        let (op, delete) = match &record.change {
            Change::Put { value } => (
                KvOp::Put {
                    key: record.key().to_owned(),
                    value: value.clone(),
                    metadata: metadata(record.position.updated_at, now),
                },
                false,
            ),
            Change::Delete => (
                KvOp::Delete {
                    key: record.key().to_owned(),
                },
                true,
            ),
        };
        plan.rows.push(Planned::Write {
            position: record.position.clone(),
            hash: record.hash,
            delete,
            op: plan.ops.len(),
        });
        plan.ops.push(op);
    }
    Ok(plan)
}

fn needs_write(
    record: &SourceRecord,
    previous: Option<StoredHash>,
    now: Micros,
    refresh_after: Option<Micros>,
) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    if previous.hash != record.hash {
        return true;
    }
    let is_put = matches!(record.change, Change::Put { .. });
    is_put && refresh_after.is_some_and(|after| now - previous.written_at >= after)
}

/// KV's answer to a batch, as the checkpoint will record it.
#[derive(Debug, PartialEq)]
pub struct Acknowledged {
    /// Rows the checkpoint covers: all of them, or those before the first
    /// write that failed transiently.
    pub rows_covered: usize,
    pub position: Option<Cursor>,
    pub counters: RunCounters,
    /// Every key KV acknowledged, including those past a failure: their
    /// hashes make a replay of those rows a no-op.
    pub written: Vec<WrittenKey>,
    pub quarantined: Vec<Quarantined>,
    pub transient_error: Option<SinkError>,
}

pub fn acknowledge(
    plan: &BatchPlan,
    results: &[Result<(), SinkError>],
    now: Micros,
) -> Acknowledged {
    let first_failure = results.iter().position(|r| {
        matches!(
            r,
            Err(SinkError::RateLimited(_) | SinkError::Unavailable(_))
        )
    });
    let mut ack = Acknowledged {
        rows_covered: plan.rows.len(),
        position: None,
        counters: RunCounters::default(),
        written: Vec::with_capacity(results.len()),
        quarantined: Vec::new(),
        transient_error: first_failure.map(|i| results[i].clone().unwrap_err()),
    };
    for (i, planned) in plan.rows.iter().enumerate() {
        if let Planned::Write {
            op, position, hash, ..
        } = planned
        {
            if results.get(*op) == Some(&Ok(())) {
                ack.written.push(WrittenKey {
                    key: position.key.clone(),
                    hash: *hash,
                    written_at: now,
                });
            }
            if first_failure.is_some_and(|f| *op >= f) && ack.rows_covered == plan.rows.len() {
                ack.rows_covered = i;
            }
        }
    }
    for planned in &plan.rows[..ack.rows_covered] {
        ack.counters.rows_read += 1;
        match planned {
            Planned::Unchanged { position } => {
                ack.counters.rows_unchanged += 1;
                ack.position = Some(position.clone());
            }
            Planned::Write {
                position,
                delete,
                op,
                ..
            } => {
                match &results[*op] {
                    Ok(()) if *delete => ack.counters.rows_deleted += 1,
                    Ok(()) => ack.counters.rows_written += 1,
                    Err(e) => {
                        ack.counters.rows_failed += 1;
                        ack.quarantined.push(Quarantined {
                            key: Some(position.key.clone()),
                            position: Some(position.clone()),
                            reason: format!("KV refused the write: {}", sink_message(e)),
                            digest: None,
                        });
                    }
                }
                ack.position = Some(position.clone());
            }
            Planned::Quarantine(q) => {
                ack.counters.rows_failed += 1;
                ack.quarantined.push(q.clone());
                if let Some(p) = &q.position {
                    ack.position = Some(p.clone());
                }
            }
        }
    }
    ack
}

fn sink_message(e: &SinkError) -> &str {
    match e {
        SinkError::RateLimited(m) | SinkError::Unavailable(m) | SinkError::Rejected(m) => m,
    }
}

impl RunCounters {
    pub fn add(&self, other: &RunCounters) -> RunCounters {
        RunCounters {
            rows_read: self.rows_read + other.rows_read,
            rows_written: self.rows_written + other.rows_written,
            rows_deleted: self.rows_deleted + other.rows_deleted,
            rows_unchanged: self.rows_unchanged + other.rows_unchanged,
            rows_failed: self.rows_failed + other.rows_failed,
        }
    }
}
