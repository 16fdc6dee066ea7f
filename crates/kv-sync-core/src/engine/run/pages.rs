//! Reading the run's job page by page: starting the job, reading the next
//! page (or taking it from the read-ahead), and moving past a finished one.

use super::{Changes, Engine, Pause};
use crate::engine::error::{RunError, WarehouseError};
use crate::engine::key_walk::Stretch;
use crate::engine::kv_path::{choose, KvPath, PathChoice};
use crate::engine::ports::{Clock, KvSink, ResultPage, StateStore, Warehouse};
use crate::engine::progress::{JobProgress, Reconcile, RunProgress};
use crate::engine::read_ahead::ReadAhead;
use crate::engine::record::ContentHash;
use crate::engine::source_query::{query_digest, wrap, ReadOrder};
use crate::engine::time::{Micros, MICROS_PER_SECOND};

impl<W: Warehouse, K: KvSink, S: StateStore, C: Clock> Engine<'_, W, K, S, C> {
    /// Works through one complete page from where the run stands in it.
    pub(super) async fn handle_page(
        &mut self,
        progress: &mut RunProgress,
        page: ResultPage,
        deadline: Micros,
    ) -> Result<Option<Pause>, RunError> {
        if let Some(job) = progress.job.as_mut().filter(|j| !j.costed) {
            job.costed = true;
            progress.spend.add_job(page.cost);
        }
        let job = progress.job.as_ref().expect("a page implies a job");
        if let Some(total) = page.total_rows {
            progress.total_rows = Some(job.rows_before + total);
        }
        if progress.schema.is_none() {
            progress.schema = page.schema.map(ContentHash::to_hex);
        }
        if !page.rows.is_empty() {
            progress.row_bytes = Some((page.bytes / page.rows.len()).max(1) as u64);
        }
        if progress.kv_path.is_none() {
            let choice = if self.ports.sink.offers_bulk() {
                choose(progress.total_rows, self.limits().bulk_min_rows)
            } else {
                PathChoice {
                    path: KvPath::Binding,
                    reason: "the bulk API is not configured: the binding".into(),
                }
            };
            self.ports.sink.use_path(choice.path);
            progress.kv_path = Some(choice.path);
            progress.kv_path_reason = Some(choice.reason);
        }
        // A page re-read after a pause may be shorter than the offset
        // reached in it (page sizes follow the write budget): the rest of
        // the offset carries into the next page.
        let offset = (job.page_offset as usize).min(page.rows.len());
        let carry = job.page_offset - offset as u32;
        let mut rows = page.rows;
        rows.drain(..offset);
        if !rows.is_empty() {
            let next = page.next_page_token.as_deref();
            if let Some(pause) = self.handle_rows(progress, rows, next, deadline).await? {
                return Ok(Some(pause));
            }
        }
        self.finish_page(progress, page.next_page_token, carry)?;
        Ok(None)
    }

    /// Reads the next page, starting the run's job first if it has none.
    /// `None` means "look again": the job's results were gone and it was
    /// dropped, so the next call re-queries from the last position.
    pub(super) async fn next_page(
        &mut self,
        progress: &mut RunProgress,
        max_rows: u32,
    ) -> Result<Option<ResultPage>, RunError> {
        let Some(job) = &progress.job else {
            return self.start_job(progress, max_rows).await.map(Some);
        };
        if let Some(page) = ReadAhead::take_if_next(&mut self.read_ahead, job) {
            return Ok(Some(page));
        }
        let started = self.ports.clock.now();
        let page = self
            .ports
            .warehouse
            .read_page(&job.job, job.page_token.as_deref(), max_rows)
            .await;
        self.time_spent.warehouse += self.ports.clock.now() - started;
        match page {
            Ok(page) => Ok(Some(page)),
            Err(WarehouseError::ResultsExpired(_)) => {
                let mut next = progress.clone();
                next.job = None;
                self.commit(progress, next, &Changes::default())?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Starts the run's query job (again, after expired results: from the
    /// last position) and checkpoints it, so a crash resumes this job
    /// rather than paying for another.
    async fn start_job(
        &mut self,
        progress: &mut RunProgress,
        max_rows: u32,
    ) -> Result<ResultPage, RunError> {
        // Whatever was read ahead belongs to an earlier job.
        self.read_ahead = None;
        let order = match &progress.walk {
            Some(walk) => ReadOrder::ByKey(walk.compared_through.as_deref()),
            None => ReadOrder::ByUpdate(progress.position.as_ref()),
        };
        let mut query = wrap(self.spec.query, progress.since, order, max_rows);
        let started = self.ports.clock.now();
        // Unique to this job of this run (and this sync's query), the same
        // for every retry of the request.
        let identity = format!(
            "{}/{}/{}/{started}",
            query_digest(self.spec.query),
            progress.run_id,
            progress.bigquery_jobs
        );
        query.request_id = Some(format!(
            "kv-sync-{}",
            ContentHash::of(identity.as_bytes()).to_hex()
        ));
        let page = self.ports.warehouse.start_query(&query).await;
        self.time_spent.warehouse += self.ports.clock.now() - started;
        let page = page?;
        let mut next = progress.clone();
        let digest = query_digest(self.spec.query);
        next.query_digest = match &progress.query_digest {
            _ if progress.bigquery_jobs == 0 => Some(digest),
            Some(read) if *read == digest => Some(digest),
            _ => None,
        };
        next.bigquery_jobs += 1;
        next.query_started_at.get_or_insert(started);
        next.job = Some(JobProgress {
            job: page.job.clone(),
            started_at: self.ports.clock.now(),
            page_token: None,
            page_offset: 0,
            rows_before: next.counters.rows_read,
            costed: false,
        });
        // A result that came whole with the first answer (an idle poll's,
        // say) needs no checkpoint of its job: were this invocation lost,
        // the next would ask again and BigQuery's cache would answer.
        if page.complete && page.next_page_token.is_none() {
            *progress = next;
        } else {
            self.commit(progress, next, &Changes::default())?;
        }
        Ok(page)
    }

    pub(super) async fn check_query_deadline(
        &mut self,
        progress: &mut RunProgress,
    ) -> Result<(), RunError> {
        let job = progress
            .job
            .as_ref()
            .expect("an incomplete page implies a job");
        let waited = self.ports.clock.now() - job.started_at;
        if waited <= self.limits().query_deadline {
            return Ok(());
        }
        let message = format!(
            "query job {} was still running after {} s; the next run starts a new one",
            job.job.job_id,
            waited / MICROS_PER_SECOND
        );
        let stuck = job.job.clone();
        let mut next = progress.clone();
        next.job = None;
        self.commit(progress, next, &Changes::default())?;
        // Best effort: the run fails with the timeout either way.
        let cancelled = self.ports.warehouse.cancel(&stuck).await.is_ok();
        let message = if cancelled {
            format!("{message} (the stuck job was cancelled)")
        } else {
            message
        };
        Err(WarehouseError::Timeout(message).into())
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
                if next.mode.full {
                    next.reconcile = Some(Reconcile::default());
                }
            }
        }
        // The end of a read in key order passes every stored key above the
        // last one it read.
        let walk = progress.walk.clone();
        let tail = walk.as_ref().filter(|_| next.finished);
        let changes = Changes {
            stretch: tail.map(|walk| Stretch {
                after: walk.compared_through.as_deref(),
                through: None,
                written_until: walk.began_at,
            }),
            ..Changes::default()
        };
        self.commit(progress, next, &changes)
    }
}
