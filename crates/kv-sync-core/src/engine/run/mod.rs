//! One invocation of a sync run: query, page, plan, write, checkpoint.
//!
//! The invocation works until the run is done or a budget is spent (KV
//! requests, wall time), checkpointing after every batch KV acknowledged.
//! It never sleeps and never loops on an error: it returns a `Report` and
//! the coordinator decides when to wake it again.

mod batches;
mod handoff;
mod pages;
mod reconcile;
mod retire;

use super::cursor::Cursor;
use super::error::RunError;
use super::key_walk::Stretch;
use super::limits::{RunLimits, CLOCK_SKEW};
use super::ports::{Checkpoint, Clock, KvSink, StateStore, Warehouse, WrittenKey};
use super::progress::RunProgress;
use super::read_ahead::ReadAhead;
use super::record::Quarantined;
use super::time::{Micros, MICROS_PER_SECOND};

/// Why an invocation handed over to the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    WriteBudget,
    TimeBudget,
    /// KV took part of a batch and refused the rest for now (a partial bulk
    /// failure, a rate limit mid-batch): the next invocation writes exactly
    /// the refused keys. A batch KV refused entirely fails the run instead,
    /// so an outage backs off rather than spinning.
    KvRetry,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Completed,
    Paused(Pause),
    Failed(RunError),
}

/// What an invocation leaves behind: the last committed progress, why it
/// stopped, and where its time went.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub progress: RunProgress,
    pub outcome: Outcome,
    pub time_spent: TimeSpent,
    /// The next page, if it was read ahead: give it to the next invocation.
    pub read_ahead: Option<ReadAhead>,
}

/// Time an invocation spent waiting on each side, by the engine's clock: the
/// rest of its wall time is its own work and the store's. A page read ahead
/// is waited for while KV is, so the two can add up to more than the wall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeSpent {
    pub warehouse: Micros,
    pub kv: Micros,
}

/// What a checkpoint records besides the progress.
#[derive(Default)]
struct Changes<'a> {
    written: &'a [WrittenKey],
    seen: &'a [String],
    stretch: Option<Stretch<'a>>,
    restamped: &'a [Cursor],
    forgotten: &'a [String],
    quarantined: &'a [Quarantined],
}

/// The adapters an invocation works through.
pub struct Ports<'a, W, K, S, C> {
    pub warehouse: &'a mut W,
    pub sink: &'a mut K,
    pub store: &'a mut S,
    pub clock: &'a C,
}

/// What a run reads and how it writes.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec<'a> {
    /// The user's source query, before wrapping.
    pub query: &'a str,
    /// Written in front of every key in KV.
    pub key_prefix: &'a str,
    /// Prefixes the keys were written under before `key_prefix` changed:
    /// a full read that rewrites every value deletes the keys under them.
    pub retired_prefixes: &'a [String],
    /// Another sync writes under the same prefix into the same namespace:
    /// a key this one no longer reads may be that sync's now.
    pub shares_keys: bool,
    pub limits: &'a RunLimits,
}

/// The engine, borrowed over the adapters for one invocation.
pub struct Engine<'a, W, K, S, C> {
    ports: Ports<'a, W, K, S, C>,
    spec: RunSpec<'a>,
    /// The fencing number of the lease this invocation holds.
    fence: u64,
    time_spent: TimeSpent,
    read_ahead: Option<ReadAhead>,
    /// KV requests made in this invocation.
    requests: u32,
    /// Whether this invocation has checkpointed a batch (or a page of
    /// deletes) yet.
    progressed: bool,
}

impl<'a, W: Warehouse, K: KvSink, S: StateStore, C: Clock> Engine<'a, W, K, S, C> {
    pub fn new(ports: Ports<'a, W, K, S, C>, spec: RunSpec<'a>, fence: u64) -> Self {
        Engine {
            ports,
            spec,
            fence,
            time_spent: TimeSpent::default(),
            read_ahead: None,
            requests: 0,
            progressed: false,
        }
    }

    /// Hands over a page the previous invocation read ahead, if kept.
    pub fn with_read_ahead(mut self, read_ahead: Option<ReadAhead>) -> Self {
        self.read_ahead = read_ahead;
        self
    }

    /// Works on the run from `progress` (its last checkpoint).
    pub async fn run_invocation(mut self, mut progress: RunProgress) -> Report {
        progress.invocations += 1;
        if let Some(path) = progress.kv_path {
            self.ports.sink.use_path(path);
        }
        let deadline = self.ports.clock.now() + self.spec.limits.budget;
        let outcome = match self.work(&mut progress, deadline).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed(e),
        };
        Report {
            progress,
            outcome,
            time_spent: self.time_spent,
            read_ahead: self.read_ahead.take(),
        }
    }

    fn limits(&self) -> &'a RunLimits {
        self.spec.limits
    }

    /// The reason to stop before the next step, if a budget is spent.
    fn spent(&self, deadline: Micros) -> Option<Pause> {
        if self.ports.clock.now() >= deadline {
            Some(Pause::TimeBudget)
        } else if self.requests >= self.limits().max_kv_requests {
            // Reading another page could only find out that nothing can be
            // written: leave it to the next invocation.
            Some(Pause::WriteBudget)
        } else {
            None
        }
    }

    async fn work(
        &mut self,
        progress: &mut RunProgress,
        deadline: Micros,
    ) -> Result<Outcome, RunError> {
        while !progress.finished {
            if let Some(pause) = self.spent(deadline) {
                return Ok(Outcome::Paused(pause));
            }
            let max_rows = self.page_size(progress, self.requests);
            let Some(page) = self.next_page(progress, max_rows).await? else {
                continue;
            };
            if !page.complete {
                self.check_query_deadline(progress).await?;
                continue;
            }
            if let Some(pause) = self.handle_page(progress, page, deadline).await? {
                return Ok(Outcome::Paused(pause));
            }
        }
        if !progress.is_done() {
            if let Some(pause) = self.reconcile(progress, deadline).await? {
                return Ok(Outcome::Paused(pause));
            }
        }
        progress.late_warning = late_warning(progress);
        Ok(Outcome::Completed)
    }

    /// Stores `next` as the run's checkpoint with what the batch changed;
    /// `progress` becomes `next` only once the store has it.
    fn commit(
        &mut self,
        progress: &mut RunProgress,
        next: RunProgress,
        changes: &Changes<'_>,
    ) -> Result<(), RunError> {
        let now = self.ports.clock.now();
        // A read in key order has passed no point in time until it ends.
        let follows_time = next.walk.is_none() || next.finished;
        let cursor = next
            .position
            .clone()
            .filter(|_| follows_time)
            .map(|p| p.min(Cursor::new(now + CLOCK_SKEW, "")));
        self.ports.store.commit(Checkpoint {
            fence: self.fence,
            progress: &next,
            cursor: cursor.as_ref(),
            written: changes.written,
            seen: changes.seen,
            stretch: changes.stretch,
            restamped: changes.restamped,
            forgotten: changes.forgotten,
            quarantined: changes.quarantined,
            lease_expires_at: now + self.limits().lease_ttl,
            now,
        })?;
        *progress = next;
        Ok(())
    }
}
/// What a completed full run's late rows say: how many arrived after the
/// incremental runs' window had passed them, and the lookback that would
/// have caught them all.
fn late_warning(progress: &RunProgress) -> Option<String> {
    let (window, needs) = (progress.late?, progress.late_needs?);
    let seconds = |m: Micros| (m + MICROS_PER_SECOND - 1) / MICROS_PER_SECOND;
    Some(format!(
        "{} rows reached KV only with this full run: their updated_at was older than the cursor \
         minus SYNC_LOOKBACK_SECONDS ({} s) when it began, so no incremental run could read them. \
         SYNC_LOOKBACK_SECONDS = {} would have caught them",
        progress.counters.rows_late,
        seconds(window.cursor - window.since),
        seconds(needs)
    ))
}
