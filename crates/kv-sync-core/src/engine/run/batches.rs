//! Writing a page's rows batch by batch: plan, write (reading the next page
//! meanwhile), checkpoint what KV acknowledged; and the budgets that size
//! pages and batches.

use super::{Changes, Engine, Pause, Ports};
use crate::engine::acknowledge::acknowledge;
use crate::engine::cursor::Cursor;
use crate::engine::error::{RunError, SinkError};
use crate::engine::key_walk::Stretch;
use crate::engine::kv_path::KvPath;
use crate::engine::limits::ROW_BYTES_GUESS;
use crate::engine::plan::{plan_batch, BatchPlan, Planned, WriteRules};
use crate::engine::ports::{Clock, KvSink, StateStore, Warehouse};
use crate::engine::progress::RunProgress;
use crate::engine::read_ahead::{NextPage, ReadAhead};
use crate::engine::record::{check, Checked, PageRow};
use crate::engine::time::Micros;

impl<W: Warehouse, K: KvSink, S: StateStore, C: Clock> Engine<'_, W, K, S, C> {
    /// Plans, writes and checkpoints the page's rows batch by batch, reading
    /// the page after it (`next_token`) while the last batch is written.
    pub(super) async fn handle_rows(
        &mut self,
        progress: &mut RunProgress,
        rows: Vec<PageRow>,
        next_token: Option<&str>,
        deadline: Micros,
    ) -> Result<Option<Pause>, RunError> {
        let batch_rows = self
            .limits()
            .batch_rows
            .max(self.ports.sink.ops_per_request());
        let in_hand = rows.len() as u64 * row_bytes(progress);
        let mut rows = rows.into_iter();
        while !rows.as_slice().is_empty() {
            // With a page in hand, the time budget waits for the first
            // batch: a page slower to read than the budget would otherwise
            // be read and dropped by every invocation, and the run never end.
            if let Some(pause) = self.spent(deadline).filter(|_| self.progressed) {
                return Ok(Some(pause));
            }
            let prefix = self.spec.key_prefix;
            let batch: Vec<Checked> = rows
                .by_ref()
                .take(batch_rows)
                .map(|r| check(r, prefix))
                .collect();
            let batch_len = batch.len();
            let now = self.ports.clock.now();
            let rules = WriteRules {
                now,
                refresh_after: self.limits().refresh_after,
                rewrite: progress.mode.rewrite,
                key_prefix: prefix,
                write_budget: self.ops_left(self.requests),
            };
            let plan = plan_batch(batch, &*self.ports.store, &rules)?;
            // The plan stops short of the batch only where the write budget
            // ran out: the rest of the page is for the next invocation.
            let covers_batch = plan.rows.len() == batch_len;
            let finishes_page = covers_batch && rows.as_slice().is_empty();
            let read_ahead = finishes_page
                .then(|| self.next_to_read(progress, next_token, plan.ops.len(), in_hand))
                .flatten();
            if !self.write_batch(progress, plan, now, read_ahead).await? {
                return Ok(Some(Pause::KvRetry));
            }
            if !covers_batch {
                return Ok(Some(Pause::WriteBudget));
            }
        }
        Ok(None)
    }

    /// The page to read while the last batch of this one is written, when
    /// both pages fit in a page's worth of bytes (`in_hand`: this page's):
    /// pages of large rows are read one at a time, so that the next page
    /// and its parse do not sit in memory beside the batch being written.
    fn next_to_read(
        &self,
        progress: &RunProgress,
        next_token: Option<&str>,
        ops: usize,
        in_hand: u64,
    ) -> Option<NextPage> {
        let (Some(job), Some(token)) = (&progress.job, next_token) else {
            return None;
        };
        if self.read_ahead.is_some() {
            return None;
        }
        let requests_after = self.requests + self.requests_for(ops);
        // A spent budget means the page is for the next invocation.
        let requests_then = if requests_after >= self.limits().max_kv_requests {
            0
        } else {
            requests_after
        };
        let max_rows = self.page_size(progress, requests_then);
        if in_hand + u64::from(max_rows) * row_bytes(progress) > self.limits().page_bytes {
            return None;
        }
        Some(NextPage {
            job: job.job.clone(),
            page_token: token.to_owned(),
            max_rows,
        })
    }

    /// Writes one planned batch (reading `read_ahead` meanwhile) and
    /// checkpoints what KV acknowledged. `false` when KV acknowledged only
    /// part of the batch.
    async fn write_batch(
        &mut self,
        progress: &mut RunProgress,
        mut plan: BatchPlan,
        now: Micros,
        read_ahead: Option<NextPage>,
    ) -> Result<bool, RunError> {
        self.requests += self.requests_for(plan.ops.len());
        // The store knows keys without the sync's prefix.
        let keys: Vec<&str> = plan
            .rows
            .iter()
            .filter_map(|p| match p {
                Planned::Write { position, .. } => Some(position.key.as_str()),
                _ => None,
            })
            .collect();
        if !keys.is_empty() {
            self.ports.store.note_unconfirmed(self.fence, &keys, now)?;
        }
        let ops = std::mem::take(&mut plan.ops);
        let Ports {
            warehouse,
            sink,
            clock,
            ..
        } = &mut self.ports;
        let clock = *clock;
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
        self.time_spent.kv += kv_wait;
        if let Some((next, page, wait)) = ahead {
            self.time_spent.warehouse += wait;
            // A failed or unfinished read ahead is only a lost head start:
            // the page is read again when it is needed.
            if let Some(page) = page.ok().filter(|p| p.complete) {
                self.read_ahead = Some(ReadAhead::new(next, page));
            }
        }
        self.checkpoint_batch(progress, &plan, &results, now)
    }

    fn checkpoint_batch(
        &mut self,
        progress: &mut RunProgress,
        plan: &BatchPlan,
        results: &[Result<(), SinkError>],
        now: Micros,
    ) -> Result<bool, RunError> {
        let acked = acknowledge(plan, results, now, progress.mode.full, progress.late);
        self.progressed = true;
        let mut next = progress.clone();
        let refused = self.note_bulk_refusal(&mut next);
        next.counters += acked.counters;
        next.late_needs = next.late_needs.max(acked.late_needs);
        next.position = Cursor::latest(next.position.take(), acked.position);
        if let Some(job) = next.job.as_mut() {
            job.page_offset += acked.rows_covered as u32;
        }
        // A full run's read compares the stored keys up to the highest key
        // it has read (from where its last batch left off).
        let through = next.walk.as_mut().and_then(|w| w.pass(&acked.seen));
        let walk = progress.walk.clone();
        let stretch = walk.as_ref().zip(through.as_deref());
        let changes = Changes {
            written: &acked.written,
            seen: &acked.seen,
            restamped: &acked.restamped,
            stretch: stretch.map(|(walk, through)| Stretch {
                after: walk.compared_through.as_deref(),
                through: Some(through),
                written_until: walk.began_at,
            }),
            quarantined: &acked.quarantined,
            ..Changes::default()
        };
        self.commit(progress, next, &changes)?;
        match acked.transient_error {
            Some(_) if refused || !acked.written.is_empty() => Ok(false),
            Some(e) => Err(e.into()),
            None => Ok(true),
        }
    }

    /// Records in `next` that the bulk API refused a request as a whole, if
    /// it just did: the run goes on through the binding, from the batch it
    /// refused (the next invocation sends it again), and says why.
    pub(super) fn note_bulk_refusal(&mut self, next: &mut RunProgress) -> bool {
        let Some(reason) = self.ports.sink.take_bulk_refusal() else {
            return false;
        };
        next.kv_path = Some(KvPath::Binding);
        next.kv_path_reason = Some(format!(
            "the KV bulk API refused a request as a whole ({reason}): the binding"
        ));
        next.degraded = Some(format!(
            "the KV bulk API refused a request as a whole ({reason}): this run writes \
             through the binding instead, and no row was quarantined for it; check \
             CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID and the namespace id"
        ));
        true
    }

    /// KV requests `ops` operations take through this sink.
    pub(super) fn requests_for(&self, ops: usize) -> u32 {
        u32::try_from(ops.div_ceil(self.ports.sink.ops_per_request())).unwrap_or(u32::MAX)
    }

    /// Operations the requests left in this invocation can carry.
    pub(super) fn ops_left(&self, requests: u32) -> usize {
        let left = self.limits().max_kv_requests.saturating_sub(requests) as usize;
        left.saturating_mul(self.ports.sink.ops_per_request())
    }

    /// Rows worth asking the warehouse for: what the writes left in this
    /// invocation will cover at the run's observed rows-per-write, so an
    /// import with a small write budget does not fetch ten times the rows it
    /// can write, while a mostly unchanged re-read still uses full pages.
    pub(super) fn page_size(&self, progress: &RunProgress, requests: u32) -> u32 {
        let left = self.ops_left(requests).max(1) as f64;
        let c = &progress.counters;
        let rows_per_write =
            (c.rows_read + 1) as f64 / (c.rows_written + c.rows_deleted + 1) as f64;
        let want = (left * rows_per_write).ceil() as u64;
        // And no more than a page's worth of bytes at the rows' size.
        let by_bytes = (self.limits().page_bytes / row_bytes(progress)).max(1);
        let most = u64::from(self.limits().page_rows).min(by_bytes);
        want.clamp(1, most) as u32
    }
}

/// What a row of the run weighs, as its pages showed (a guess before).
fn row_bytes(progress: &RunProgress) -> u64 {
    progress.row_bytes.unwrap_or(ROW_BYTES_GUESS).max(1)
}
