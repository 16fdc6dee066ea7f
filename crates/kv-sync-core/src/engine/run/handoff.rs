//! Keys shared with another sync (the same namespace, the same prefix): a
//! key that left this sync's source may have entered the other's, which
//! wrote it since. Before deleting such a key, the sync reads when the value
//! KV holds was written: one written after this sync last wrote the key is
//! the other sync's, so the key is forgotten here and left in KV.

use super::Engine;
use crate::engine::error::RunError;
use crate::engine::ports::{Clock, KvSink, Orphan, StateStore, Warehouse};

impl<W: Warehouse, K: KvSink, S: StateStore, C: Clock> Engine<'_, W, K, S, C> {
    /// Marks the orphans another sync wrote since as ones to forget only. A
    /// read KV did not answer fails the run: nothing is deleted on a guess.
    pub(super) async fn spare_handed_over(
        &mut self,
        orphans: &mut [Orphan],
    ) -> Result<(), RunError> {
        if !self.spec.shares_keys {
            return Ok(());
        }
        let live: Vec<&mut Orphan> = orphans.iter_mut().filter(|o| o.live).collect();
        if live.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = live
            .iter()
            .map(|o| format!("{}{}", self.spec.key_prefix, o.key))
            .collect();
        self.requests += u32::try_from(keys.len()).unwrap_or(u32::MAX);
        let started = self.ports.clock.now();
        let answers = self.ports.sink.synced_at(&keys).await;
        self.time_spent.kv += self.ports.clock.now() - started;
        for (orphan, answer) in live.into_iter().zip(answers) {
            if answer?.is_some_and(|at| at > orphan.written_at) {
                orphan.live = false;
            }
        }
        Ok(())
    }
}
