//! The end of a full run: the keys kv-sync wrote that the run did not read
//! have left the source, so they are deleted from KV and forgotten. Orphans
//! are visited in key order, a page at a time, never all in memory; each
//! page is fenced and checkpointed like any write, so reconciliation spans
//! as many invocations as it needs.
//!
//! Guards: a full read that returned no rows, or orphans above the allowed
//! share of the keys held, delete nothing; the run completes and says why.

use super::{Changes, Engine, Pause};
use crate::engine::error::{RunError, SinkError};
use crate::engine::ports::{Clock, KvOp, KvSink, Orphan, StateStore, Warehouse};
use crate::engine::progress::RunProgress;
use crate::engine::time::Micros;

enum Verdict {
    NothingToDelete,
    Delete,
    /// Nothing is deleted, and this says why.
    HeldBack(String),
}

impl<W: Warehouse, K: KvSink, S: StateStore, C: Clock> Engine<'_, W, K, S, C> {
    pub(super) async fn reconcile(
        &mut self,
        progress: &mut RunProgress,
        deadline: Micros,
    ) -> Result<Option<Pause>, RunError> {
        if let Some(pause) = self.retire_prefixes(progress, deadline).await? {
            return Ok(Some(pause));
        }
        if !progress.reconcile.as_ref().is_some_and(|r| r.cleared) {
            let mut next = progress.clone();
            let verdict = self.verdict(progress)?;
            let reconcile = next.reconcile.get_or_insert_with(Default::default);
            match verdict {
                Verdict::NothingToDelete => reconcile.done = true,
                Verdict::HeldBack(warning) => {
                    reconcile.done = true;
                    next.warning = Some(warning);
                }
                Verdict::Delete => reconcile.cleared = true,
            }
            self.commit(progress, next, &Changes::default())?;
        }
        while !progress.is_done() {
            if let Some(pause) = self.spent(deadline) {
                return Ok(Some(pause));
            }
            if !self.delete_orphans(progress).await? {
                return Ok(Some(Pause::KvRetry));
            }
        }
        Ok(None)
    }

    /// Whether the orphans may be deleted, and if not, why.
    fn verdict(&self, progress: &RunProgress) -> Result<Verdict, RunError> {
        if progress.counters.rows_read == 0 {
            return Ok(Verdict::HeldBack(
                "the full read returned no rows, which looks more like a broken query or an outage \
                 than an empty source: nothing was deleted"
                    .into(),
            ));
        }
        if progress.walk.is_none() {
            return Ok(Verdict::HeldBack(
                "this full read began under an older kv-sync, which found the keys that left \
                 the source another way: nothing was deleted; the next full read deletes them"
                    .into(),
            ));
        }
        let census = self.ports.store.census(progress.marks_from())?;
        if census.orphans == 0 && census.stale_tombstones == 0 {
            return Ok(Verdict::NothingToDelete);
        }
        let allowed = self.limits().max_delete_percent;
        let over = census.orphans.saturating_mul(100) > allowed.saturating_mul(census.held);
        if progress.mode.allow_mass_delete || !over {
            return Ok(Verdict::Delete);
        }
        let share = census.orphans as f64 * 100.0 / census.held.max(1) as f64;
        Ok(Verdict::HeldBack(format!(
            "{} of the {} keys kv-sync holds ({share:.1}%) are no longer in the source, more than \
             RECONCILE_MAX_DELETE_PERCENT ({allowed}%): nothing was deleted. If that is right, \
             run POST /sync-kv-now?full=true&allow_mass_delete=true",
            census.orphans, census.held
        )))
    }

    /// Keys a page of deletes visits, `ops_per_key` deletes each: a batch,
    /// or a request's worth, within the requests left in this invocation.
    pub(super) fn keys_per_page(&self, ops_per_key: usize) -> usize {
        let page = self
            .limits()
            .batch_rows
            .max(self.ports.sink.ops_per_request());
        (self.ops_left(self.requests) / ops_per_key).clamp(1, page)
    }

    /// Orphans a page visits. A sync sharing its keys reads each through the
    /// binding (one request) before deleting it, so it takes at most half
    /// the requests left.
    fn orphans_per_page(&self) -> usize {
        let page = self.keys_per_page(1);
        if !self.spec.shares_keys {
            return page;
        }
        let left = self.limits().max_kv_requests.saturating_sub(self.requests) as usize;
        (left / 2).clamp(1, page)
    }

    /// Deletes and forgets the next page of orphans. `false` when KV
    /// acknowledged only part of it (the rest is for the next invocation).
    async fn delete_orphans(&mut self, progress: &mut RunProgress) -> Result<bool, RunError> {
        let after = progress
            .reconcile
            .as_ref()
            .and_then(|r| r.after_key.clone());
        let limit = self.orphans_per_page();
        let mut orphans =
            self.ports
                .store
                .orphans(progress.marks_from(), after.as_deref(), limit)?;
        self.spare_handed_over(&mut orphans).await?;
        let mut next = progress.clone();
        let Some(last) = orphans.last() else {
            next.reconcile.get_or_insert_with(Default::default).done = true;
            self.commit(progress, next, &Changes::default())?;
            return Ok(true);
        };
        let last = last.key.clone();
        let results = self.delete_live(&orphans).await?;
        let refused = self.note_bulk_refusal(&mut next);
        self.progressed = true;
        let (forgotten, deleted, failure) = covered(&orphans, &results);
        next.counters.rows_orphaned += deleted;
        let reconcile = next.reconcile.get_or_insert_with(Default::default);
        reconcile.after_key = match failure {
            None => Some(last),
            Some(_) => forgotten.last().cloned().or(after),
        };
        let changes = Changes {
            forgotten: &forgotten,
            ..Changes::default()
        };
        self.commit(progress, next, &changes)?;
        match failure {
            Some(_) if refused || !forgotten.is_empty() => Ok(false),
            Some(e) => Err(e.into()),
            None => Ok(true),
        }
    }

    /// Deletes the orphans KV still holds, each noted unconfirmed first: a
    /// delete that lands unanswered must not leave a value kv-sync believes
    /// is there. Answers for the live ones, in order.
    async fn delete_live(
        &mut self,
        orphans: &[Orphan],
    ) -> Result<Vec<Result<(), SinkError>>, RunError> {
        let live: Vec<&str> = orphans
            .iter()
            .filter(|o| o.live)
            .map(|o| o.key.as_str())
            .collect();
        if live.is_empty() {
            return Ok(Vec::new());
        }
        self.requests += self.requests_for(live.len());
        let now = self.ports.clock.now();
        self.ports.store.note_unconfirmed(self.fence, &live, now)?;
        let ops: Vec<KvOp> = live
            .iter()
            .map(|key| KvOp::Delete {
                key: format!("{}{key}", self.spec.key_prefix),
            })
            .collect();
        let started = self.ports.clock.now();
        let results = self.ports.sink.apply(ops).await;
        self.time_spent.kv += self.ports.clock.now() - started;
        Ok(results)
    }
}

/// The orphans before the first delete that failed for now: their keys to
/// forget, how many of them KV deleted, and that failure. A delete KV
/// refuses for good is forgotten too: KV cannot hold such a key.
fn covered(
    orphans: &[Orphan],
    results: &[Result<(), SinkError>],
) -> (Vec<String>, u64, Option<SinkError>) {
    let mut forgotten = Vec::with_capacity(orphans.len());
    let mut deleted = 0;
    let mut results = results.iter();
    for orphan in orphans {
        if orphan.live {
            match results.next() {
                Some(Ok(())) => deleted += 1,
                Some(Err(e)) if e.is_transient() => return (forgotten, deleted, Some(e.clone())),
                _ => {}
            }
        }
        forgotten.push(orphan.key.clone());
    }
    (forgotten, deleted, None)
}
