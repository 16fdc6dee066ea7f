//! A changed `key_prefix`: once the full read has written every value under
//! the new prefix, the keys held under the old ones are deleted, a page of
//! held keys at a time, in key order, each page checkpointed like any write.
//!
//! They did not leave the source, so this is not reconciliation: the
//! mass-delete guard does not apply, and nothing is forgotten (the keys are
//! still held, under the new prefix). It runs before the orphans are
//! deleted, so a key that left the source goes from under both prefixes.

use super::{Changes, Engine, Pause};
use crate::engine::error::{RunError, SinkError};
use crate::engine::ports::{Clock, KvOp, KvSink, StateStore, Warehouse};
use crate::engine::progress::RunProgress;
use crate::engine::time::Micros;

impl<W: Warehouse, K: KvSink, S: StateStore, C: Clock> Engine<'_, W, K, S, C> {
    pub(super) async fn retire_prefixes(
        &mut self,
        progress: &mut RunProgress,
        deadline: Micros,
    ) -> Result<Option<Pause>, RunError> {
        if self.spec.retired_prefixes.is_empty() {
            return Ok(None);
        }
        while !progress.reconcile.as_ref().is_some_and(|r| r.retired) {
            if let Some(pause) = self.spent(deadline) {
                return Ok(Some(pause));
            }
            if !self.retire_page(progress).await? {
                return Ok(Some(Pause::KvRetry));
            }
        }
        Ok(None)
    }

    /// Deletes the next page of held keys under every retired prefix.
    /// `false` when KV acknowledged only part of it.
    async fn retire_page(&mut self, progress: &mut RunProgress) -> Result<bool, RunError> {
        let prefixes = self.spec.retired_prefixes;
        let after = progress
            .reconcile
            .as_ref()
            .and_then(|r| r.retired_after.clone());
        let limit = self.keys_per_page(prefixes.len());
        let held = self.ports.store.held_keys(after.as_deref(), limit)?;
        let mut next = progress.clone();
        let reconcile = next.reconcile.get_or_insert_with(Default::default);
        let Some(last) = held.last().map(|k| k.key.clone()) else {
            reconcile.retired = true;
            self.commit(progress, next, &Changes::default())?;
            return Ok(true);
        };
        // A deleted key (a tombstone) was deleted under the old prefix too.
        let live: Vec<&str> = held
            .iter()
            .filter(|k| k.live)
            .map(|k| k.key.as_str())
            .collect();
        let ops: Vec<KvOp> = live
            .iter()
            .flat_map(|key| {
                prefixes.iter().map(move |prefix| KvOp::Delete {
                    key: format!("{prefix}{key}"),
                })
            })
            .collect();
        self.requests += self.requests_for(ops.len());
        let started = self.ports.clock.now();
        let results = self.ports.sink.apply(ops).await;
        self.time_spent.kv += self.ports.clock.now() - started;
        let refused = self.note_bulk_refusal(&mut next);
        self.progressed = true;
        let failed = results
            .iter()
            .position(|r| r.as_ref().is_err_and(SinkError::is_transient));
        let reconcile = next.reconcile.get_or_insert_with(Default::default);
        reconcile.retired_after = match failed {
            None => Some(last),
            // The keys before the one whose delete failed are done.
            Some(i) => live[..i / prefixes.len()]
                .last()
                .map(|k| k.to_string())
                .or(after),
        };
        self.commit(progress, next, &Changes::default())?;
        match failed.map(|i| (i, results[i].clone())) {
            None => Ok(true),
            Some((i, _)) if refused || i >= prefixes.len() => Ok(false),
            Some((_, result)) => result.map(|()| false).map_err(RunError::from),
        }
    }
}
