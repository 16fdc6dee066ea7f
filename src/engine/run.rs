//! One invocation of a sync run: query, page, plan, write, checkpoint.
//!
//! The invocation works until the run is done or a budget is spent (KV
//! operations, wall time), checkpointing after every batch KV acknowledged.
//! It never sleeps and never loops on an error: it returns an `Outcome` and
//! the coordinator decides when to wake it again.

use super::batch::{acknowledge, plan_batch, BatchPlan};
use super::checkpoint::{JobProgress, RunProgress};
use super::config::SyncConfig;
use super::cursor::Cursor;
use super::error::{RunError, WarehouseError};
use super::ports::{Checkpoint, Clock, KvSink, ResultPage, StateStore, Warehouse, WrittenKey};
use super::record::Quarantined;
use super::row::SourceRow;
use super::source_query::wrap;
use super::time::{Micros, MICROS_PER_MILLI, MICROS_PER_SECOND};

/// The limits one invocation works within.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLimits {
    pub max_kv_writes: u32,
    pub budget: Micros,
    /// How long the lease outlives the holder's last checkpoint.
    pub lease_ttl: Micros,
    /// How long a query job may stay `jobComplete: false`.
    pub query_deadline: Micros,
    pub batch_rows: usize,
    pub page_rows: u32,
    /// With a KV TTL, unchanged values older than this are written again.
    pub refresh_after: Option<Micros>,
}

impl RunLimits {
    pub fn from_config(config: &SyncConfig) -> Self {
        let budget = config.invocation_budget_ms as Micros * MICROS_PER_MILLI;
        RunLimits {
            max_kv_writes: config.max_kv_writes_per_invocation,
            budget,
            // Generous, so a slow but live holder is never taken over; short
            // enough that a dead one is replaced within a minute or two.
            lease_ttl: budget * 2 + 5 * MICROS_PER_SECOND,
            query_deadline: config.job_timeout_seconds as Micros * MICROS_PER_SECOND,
            batch_rows: 500,
            page_rows: config.page_rows,
            refresh_after: (config.kv_expiration_ttl_seconds > 0)
                .then(|| config.kv_expiration_ttl_seconds as Micros * MICROS_PER_SECOND / 2),
        }
    }
}

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

/// What an invocation leaves behind: the last committed progress and why it
/// stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub progress: RunProgress,
    pub outcome: Outcome,
}

/// The engine, borrowed over the adapters for one invocation.
pub struct Engine<'a, W, K, S, C> {
    pub warehouse: &'a mut W,
    pub sink: &'a mut K,
    pub store: &'a mut S,
    pub clock: &'a C,
    pub limits: &'a RunLimits,
    /// The user's source query, before wrapping.
    pub query: &'a str,
    /// The fencing number of the lease this invocation holds.
    pub fence: u64,
}

impl<W: Warehouse, K: KvSink, S: StateStore, C: Clock> Engine<'_, W, K, S, C> {
    /// Works on the run from `progress` (its last checkpoint).
    pub async fn run_invocation(&mut self, mut progress: RunProgress) -> Report {
        progress.invocations += 1;
        let deadline = self.clock.now() + self.limits.budget;
        let mut writes = 0u32;
        let outcome = match self.work(&mut progress, deadline, &mut writes).await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed(e),
        };
        Report { progress, outcome }
    }

    async fn work(
        &mut self,
        progress: &mut RunProgress,
        deadline: Micros,
        writes: &mut u32,
    ) -> Result<Outcome, RunError> {
        while !progress.finished {
            if self.clock.now() >= deadline {
                return Ok(Outcome::Paused(Pause::TimeBudget));
            }
            let max_rows = self.page_size(progress, *writes);
            let Some(page) = self.next_page(progress, max_rows).await? else {
                continue;
            };
            if !page.complete {
                self.check_query_deadline(progress)?;
                continue;
            }
            let job = progress.job.as_ref().expect("a page implies a job");
            if let Some(total) = page.total_rows {
                let total = job.rows_before + total;
                if progress.total_rows != Some(total) {
                    progress.total_rows = Some(total);
                }
            }
            // A page re-read after a pause may be shorter than the offset
            // reached in it (page sizes follow the write budget): the rest of
            // the offset carries into the next page.
            let carry = (job.page_offset as usize).saturating_sub(page.rows.len()) as u32;
            let offset = (job.page_offset as usize).min(page.rows.len());
            let rows = &page.rows[offset..];
            if !rows.is_empty() {
                if let Some(pause) = self.handle_rows(progress, rows, deadline, writes).await? {
                    return Ok(Outcome::Paused(pause));
                }
            }
            self.finish_page(progress, page.next_page_token, carry)?;
        }
        Ok(Outcome::Completed)
    }

    /// Reads the next page, starting the run's job first if it has none.
    /// `None` means "look again": the job's results were gone and it was
    /// dropped, so the next call re-queries from the last position.
    async fn next_page(
        &mut self,
        progress: &mut RunProgress,
        max_rows: u32,
    ) -> Result<Option<ResultPage>, RunError> {
        let Some(job) = &progress.job else {
            let query = wrap(
                self.query,
                progress.since,
                progress.position.as_ref(),
                max_rows,
            );
            let page = self.warehouse.start_query(&query).await?;
            let mut next = progress.clone();
            next.bigquery_jobs += 1;
            next.job = Some(JobProgress {
                job: page.job.clone(),
                started_at: self.clock.now(),
                page_token: None,
                page_offset: 0,
                rows_before: next.counters.rows_read,
            });
            self.commit(progress, next, &[], &[])?;
            return Ok(Some(page));
        };
        match self
            .warehouse
            .read_page(&job.job, job.page_token.as_deref(), max_rows)
            .await
        {
            Ok(page) => Ok(Some(page)),
            Err(WarehouseError::ResultsExpired(_)) => {
                let mut next = progress.clone();
                next.job = None;
                self.commit(progress, next, &[], &[])?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn check_query_deadline(&mut self, progress: &mut RunProgress) -> Result<(), RunError> {
        let job = progress
            .job
            .as_ref()
            .expect("an incomplete page implies a job");
        let waited = self.clock.now() - job.started_at;
        if waited <= self.limits.query_deadline {
            return Ok(());
        }
        let message = format!(
            "query job {} was still running after {} s; the next run starts a new one",
            job.job.job_id,
            waited / MICROS_PER_SECOND
        );
        let mut next = progress.clone();
        next.job = None;
        self.commit(progress, next, &[], &[])?;
        Err(WarehouseError::Timeout(message).into())
    }

    /// Plans, writes and checkpoints the page's rows batch by batch.
    async fn handle_rows(
        &mut self,
        progress: &mut RunProgress,
        rows: &[SourceRow],
        deadline: Micros,
        writes: &mut u32,
    ) -> Result<Option<Pause>, RunError> {
        let mut start = 0;
        while start < rows.len() {
            if *writes >= self.limits.max_kv_writes {
                return Ok(Some(Pause::WriteBudget));
            }
            if self.clock.now() >= deadline {
                return Ok(Some(Pause::TimeBudget));
            }
            let end = (start + self.limits.batch_rows).min(rows.len());
            let now = self.clock.now();
            let plan = plan_batch(
                &rows[start..end],
                &*self.store,
                now,
                self.limits.refresh_after,
                self.limits.max_kv_writes - *writes,
            )?;
            match self.write_batch(progress, plan, now, writes).await? {
                Some(covered) => start += covered,
                None => return Ok(Some(Pause::KvRetry)),
            }
        }
        Ok(None)
    }

    /// Writes one planned batch and checkpoints what KV acknowledged.
    /// Returns how many rows the checkpoint now covers, or `None` when KV
    /// acknowledged only part of the batch.
    async fn write_batch(
        &mut self,
        progress: &mut RunProgress,
        mut plan: BatchPlan,
        now: Micros,
        writes: &mut u32,
    ) -> Result<Option<usize>, RunError> {
        *writes += plan.ops.len() as u32;
        let ops = std::mem::take(&mut plan.ops);
        let results = if ops.is_empty() {
            Vec::new()
        } else {
            self.sink.apply(ops).await
        };
        let acked = acknowledge(&plan, &results, now);
        let mut next = progress.clone();
        next.counters = progress.counters.add(&acked.counters);
        next.position = Cursor::latest(next.position.take(), acked.position);
        if let Some(job) = next.job.as_mut() {
            job.page_offset += acked.rows_covered as u32;
        }
        self.commit(progress, next, &acked.written, &acked.quarantined)?;
        match acked.transient_error {
            Some(_) if !acked.written.is_empty() => Ok(None),
            Some(e) => Err(e.into()),
            None => Ok(Some(acked.rows_covered)),
        }
    }

    /// Rows worth asking BigQuery for: what the writes left in this
    /// invocation will cover at the run's observed rows-per-write, so an
    /// import with a small write budget does not fetch ten times the rows it
    /// can write, while a mostly unchanged re-read still uses full pages.
    fn page_size(&self, progress: &RunProgress, writes: u32) -> u32 {
        let left = u64::from(self.limits.max_kv_writes.saturating_sub(writes).max(1));
        let c = &progress.counters;
        let rows_per_write =
            (c.rows_read + 1) as f64 / (c.rows_written + c.rows_deleted + 1) as f64;
        let want = (left as f64 * rows_per_write).ceil() as u64;
        want.clamp(1, u64::from(self.limits.page_rows)) as u32
    }

    fn finish_page(
        &mut self,
        progress: &mut RunProgress,
        next_token: Option<String>,
        carry: u32,
    ) -> Result<(), RunError> {
        let mut next = progress.clone();
        match next_token {
            Some(token) => {
                let job = next.job.as_mut().expect("a finished page implies a job");
                job.page_token = Some(token);
                job.page_offset = carry;
            }
            None => {
                next.job = None;
                next.finished = true;
            }
        }
        self.commit(progress, next, &[], &[])
    }

    /// Stores `next` as the run's checkpoint; `progress` becomes `next` only
    /// once the store has it.
    fn commit(
        &mut self,
        progress: &mut RunProgress,
        next: RunProgress,
        written: &[WrittenKey],
        quarantined: &[Quarantined],
    ) -> Result<(), RunError> {
        let now = self.clock.now();
        self.store.commit(Checkpoint {
            fence: self.fence,
            progress: &next,
            written,
            quarantined,
            lease_expires_at: now + self.limits.lease_ttl,
            now,
        })?;
        *progress = next;
        Ok(())
    }
}
