//! One invocation of a sync run: query, page, plan, write, checkpoint.
//!
//! The invocation works until the run is done or a budget is spent (KV
//! operations, wall time), checkpointing after every batch KV acknowledged.
//! It never sleeps and never loops on an error: it returns an `Outcome` and
//! the coordinator decides when to wake it again.

use super::batch::{acknowledge, plan_batch, BatchPlan};
use super::checkpoint::{JobProgress, RunProgress};
use super::cursor::Cursor;
use super::error::{RunError, WarehouseError};
use super::limits::RunLimits;
use super::ports::{Checkpoint, Clock, KvSink, ResultPage, StateStore, Warehouse, WrittenKey};
use super::read_ahead::{NextPage, ReadAhead};
use super::record::Quarantined;
use super::row::SourceRow;
use super::source_query::wrap;
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
    pub waited: Waited,
    /// The next page, if it was read ahead: give it to the next invocation.
    pub read_ahead: Option<ReadAhead>,
}

/// Time an invocation spent waiting on each side, by the engine's clock: the
/// rest of its wall time is its own work and the store's. A page read ahead
/// is waited for while KV is, so the two can add up to more than the wall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Waited {
    pub warehouse: Micros,
    pub kv: Micros,
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
    pub waited: Waited,
    /// A page the previous invocation read ahead, if the coordinator kept it.
    pub read_ahead: Option<ReadAhead>,
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
        Report {
            progress,
            outcome,
            waited: self.waited,
            read_ahead: self.read_ahead.take(),
        }
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
            // Reading another page could only find out that nothing can be
            // written: leave it to the next invocation.
            if *writes >= self.limits.max_kv_writes {
                return Ok(Outcome::Paused(Pause::WriteBudget));
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
                let next = page.next_page_token.as_deref();
                if let Some(pause) = self
                    .handle_rows(progress, rows, next, deadline, writes)
                    .await?
                {
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
            // Whatever was read ahead belongs to an earlier job.
            self.read_ahead = None;
            let query = wrap(
                self.query,
                progress.since,
                progress.position.as_ref(),
                max_rows,
            );
            let started = self.clock.now();
            let page = self.warehouse.start_query(&query).await;
            self.waited.warehouse += self.clock.now() - started;
            let page = page?;
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
        if let Some(page) = ReadAhead::take_for(&mut self.read_ahead, job) {
            return Ok(Some(page));
        }
        let started = self.clock.now();
        let page = self
            .warehouse
            .read_page(&job.job, job.page_token.as_deref(), max_rows)
            .await;
        self.waited.warehouse += self.clock.now() - started;
        match page {
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

    /// Plans, writes and checkpoints the page's rows batch by batch, reading
    /// the page after it (`next_token`) while the last batch is written.
    async fn handle_rows(
        &mut self,
        progress: &mut RunProgress,
        rows: &[SourceRow],
        next_token: Option<&str>,
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
            let finishes_page = start + plan.rows.len() == rows.len();
            let read_ahead = match (&progress.job, next_token) {
                (Some(job), Some(token)) if finishes_page && self.read_ahead.is_none() => {
                    let writes_after = *writes + plan.ops.len() as u32;
                    // A spent budget means the page is for the next invocation.
                    let writes_then = if writes_after >= self.limits.max_kv_writes {
                        0
                    } else {
                        writes_after
                    };
                    Some(NextPage {
                        job: job.job.clone(),
                        page_token: token.to_owned(),
                        max_rows: self.page_size(progress, writes_then),
                    })
                }
                _ => None,
            };
            match self
                .write_batch(progress, plan, now, writes, read_ahead)
                .await?
            {
                Some(covered) => start += covered,
                None => return Ok(Some(Pause::KvRetry)),
            }
        }
        Ok(None)
    }

    /// Writes one planned batch (reading `read_ahead` meanwhile) and
    /// checkpoints what KV acknowledged. Returns how many rows the
    /// checkpoint now covers, or `None` when KV acknowledged only part of
    /// the batch.
    async fn write_batch(
        &mut self,
        progress: &mut RunProgress,
        mut plan: BatchPlan,
        now: Micros,
        writes: &mut u32,
        read_ahead: Option<NextPage>,
    ) -> Result<Option<usize>, RunError> {
        *writes += plan.ops.len() as u32;
        let ops = std::mem::take(&mut plan.ops);
        let (sink, warehouse, clock) = (&mut *self.sink, &mut *self.warehouse, self.clock);
        let write = async move {
            let started = clock.now();
            let results = if ops.is_empty() {
                Vec::new()
            } else {
                sink.apply(ops).await
            };
            (results, clock.now() - started)
        };
        let read = async move {
            let next = read_ahead?;
            let started = clock.now();
            let page = warehouse
                .read_page(&next.job, Some(&next.page_token), next.max_rows)
                .await;
            Some((next, page, clock.now() - started))
        };
        let ((results, kv_wait), ahead) = futures::join!(write, read);
        self.waited.kv += kv_wait;
        if let Some((next, page, wait)) = ahead {
            self.waited.warehouse += wait;
            // A failed or unfinished read ahead is only a lost head start:
            // the page is read again when it is needed.
            if let Some(page) = page.ok().filter(|p| p.complete) {
                self.read_ahead = Some(ReadAhead::new(next, page));
            }
        }
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
