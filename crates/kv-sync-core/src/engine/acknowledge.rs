//! Reading KV's answer to a batch into what its checkpoint records.
//!
//! The checkpoint covers only the rows before the first write that failed
//! transiently: the cursor must not pass a row KV has not confirmed. Keys KV
//! confirmed beyond that point still have their hashes recorded, so replaying
//! those rows later writes nothing. A write KV refused for good quarantines
//! its row with KV's reason and does not hold the cursor.

use super::cursor::Cursor;
use super::error::SinkError;
use super::plan::{BatchPlan, Planned};
use super::ports::WrittenKey;
use super::progress::{LateWindow, RunCounters};
use super::record::Quarantined;
use super::time::Micros;

/// KV's answer to a batch, as the checkpoint will record it.
#[derive(Debug, PartialEq)]
pub(crate) struct Acknowledged {
    /// Rows the checkpoint covers: all of them, or those before the first
    /// write that failed transiently.
    pub rows_covered: usize,
    pub position: Option<Cursor>,
    pub counters: RunCounters,
    /// Every key KV acknowledged, including those past a failure.
    pub written: Vec<WrittenKey>,
    /// The keys of the covered rows (for a full run's reconciliation).
    pub seen: Vec<String>,
    /// Covered rows KV holds from an older version of the same value.
    pub restamped: Vec<Cursor>,
    pub quarantined: Vec<Quarantined>,
    pub transient_error: Option<SinkError>,
    /// The lookback that would have caught this batch's late rows.
    pub late_needs: Option<Micros>,
}

/// Reads KV's `results` for `plan`. `full`: the run reads the whole source,
/// so the keys of the covered rows are reported as seen; `late`: the rows
/// it writes from before this window are counted late.
pub(crate) fn acknowledge(
    plan: &BatchPlan,
    results: &[Result<(), SinkError>],
    now: Micros,
    full: bool,
    late: Option<LateWindow>,
) -> Acknowledged {
    let first_failure = results
        .iter()
        .position(|r| r.as_ref().is_err_and(SinkError::is_transient));
    let rows_covered = first_failure.map_or(plan.rows.len(), |failed| {
        plan.rows
            .iter()
            .position(|p| matches!(p, Planned::Write { op, .. } if *op >= failed))
            .unwrap_or(plan.rows.len())
    });
    let mut ack = Acknowledged {
        rows_covered,
        position: None,
        counters: RunCounters::default(),
        written: confirmed(plan, results, now),
        seen: Vec::new(),
        restamped: Vec::new(),
        quarantined: Vec::new(),
        transient_error: first_failure.and_then(|i| results[i].clone().err()),
        late_needs: None,
    };
    for planned in &plan.rows[..rows_covered] {
        ack.count(planned, results);
        if let (Some(window), Planned::Write { position, op, .. }) = (late, planned) {
            if results[*op].is_ok() && position.updated_at < window.since {
                ack.counters.rows_late += 1;
                let needs = window.cursor - position.updated_at;
                ack.late_needs = Some(ack.late_needs.map_or(needs, |n| n.max(needs)));
            }
        }
    }
    if full {
        ack.seen = plan.rows[..rows_covered]
            .iter()
            .filter_map(Planned::key)
            .map(str::to_owned)
            .collect();
    }
    ack
}

/// Every key whose operation KV acknowledged, in plan order.
fn confirmed(plan: &BatchPlan, results: &[Result<(), SinkError>], now: Micros) -> Vec<WrittenKey> {
    plan.rows
        .iter()
        .filter_map(|planned| match planned {
            Planned::Write {
                op, position, hash, ..
            } if results.get(*op) == Some(&Ok(())) => Some(WrittenKey {
                key: position.key.clone(),
                hash: *hash,
                written_at: now,
                updated_at: position.updated_at,
            }),
            _ => None,
        })
        .collect()
}

impl Acknowledged {
    /// Moves the position to `row` unless it is past it already: rows in
    /// key order (a full read) are not in `(updated_at, key)` order, and
    /// the position must end at the latest of them to become the cursor.
    fn pass(&mut self, row: &Cursor) {
        self.position = Cursor::latest(self.position.take(), Some(row.clone()));
    }

    /// Counts one covered row and moves the position past it.
    fn count(&mut self, planned: &Planned, results: &[Result<(), SinkError>]) {
        self.counters.rows_read += 1;
        match planned {
            Planned::Unchanged { position, newer } => {
                self.counters.rows_unchanged += 1;
                if *newer {
                    self.restamped.push(position.clone());
                }
                self.pass(position);
            }
            Planned::Write {
                position,
                delete,
                op,
                ..
            } => {
                match &results[*op] {
                    Ok(()) if *delete => self.counters.rows_deleted += 1,
                    Ok(()) => self.counters.rows_written += 1,
                    Err(e) => {
                        self.counters.rows_failed += 1;
                        self.quarantined.push(Quarantined {
                            key: Some(position.key.clone()),
                            position: Some(position.clone()),
                            reason: format!("KV refused the write: {}", e.message()),
                            digest: None,
                        });
                    }
                }
                self.pass(position);
            }
            Planned::Quarantine(q) => {
                self.counters.rows_failed += 1;
                self.quarantined.push(q.clone());
                if let Some(p) = &q.position {
                    self.pass(p);
                }
            }
        }
    }
}
