//! The KV writers a deployment is configured for: always the binding, and
//! the bulk API beside it when a token is set, each run choosing between
//! them by its size (`engine::kv_path`).

use super::binding::BindingSink;
use super::bulk::BulkSink;
use crate::coordinator::ports::KvNamespace;
use crate::engine::error::SinkError;
use crate::engine::kv_path::KvPath;
use crate::engine::ports::{KvOp, KvSink};
use crate::engine::time::Micros;
use crate::runtime::Runtime;

pub struct PathSink<'r, N, R> {
    binding: BindingSink<N>,
    bulk: Option<BulkSink<'r, R>>,
    path: KvPath,
    /// Why the bulk API refused a request as a whole, until the engine
    /// takes it.
    bulk_refused: Option<String>,
}

impl<'r, N: KvNamespace, R: Runtime> PathSink<'r, N, R> {
    pub fn new(binding: BindingSink<N>, bulk: Option<BulkSink<'r, R>>) -> Self {
        // Until the run chooses, requests are counted as the bulk path's
        // (`KvSink::offers_bulk`).
        let path = match bulk {
            Some(_) => KvPath::Bulk,
            None => KvPath::Binding,
        };
        PathSink {
            binding,
            bulk,
            path,
            bulk_refused: None,
        }
    }
}

impl<N: KvNamespace, R: Runtime> KvSink for PathSink<'_, N, R> {
    fn ops_per_request(&self) -> usize {
        match (&self.bulk, self.path) {
            (Some(bulk), KvPath::Bulk) => bulk.ops_per_request(),
            _ => self.binding.ops_per_request(),
        }
    }

    fn offers_bulk(&self) -> bool {
        self.bulk.is_some()
    }

    fn use_path(&mut self, path: KvPath) {
        self.path = path;
    }

    fn take_bulk_refusal(&mut self) -> Option<String> {
        self.bulk_refused.take()
    }

    fn bulk_requests(&self) -> u64 {
        self.bulk.as_ref().map_or(0, BulkSink::requests_sent)
    }

    /// Read through the binding, whichever path writes.
    async fn synced_at(&mut self, keys: &[String]) -> Vec<Result<Option<Micros>, SinkError>> {
        self.binding.synced_at(keys).await
    }

    /// A bulk request refused as a whole (a wrong id, a revoked token) is
    /// no pair's fault: from then on the sink writes through the binding,
    /// which every deployment has (the refused operations are the engine's
    /// to send again, so no value is held twice).
    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<Result<(), SinkError>> {
        let Some(bulk) = self.bulk.as_mut().filter(|_| self.path == KvPath::Bulk) else {
            return self.binding.apply(ops).await;
        };
        let results = bulk.apply(ops).await;
        if let Some(reason) = bulk.take_unusable() {
            self.path = KvPath::Binding;
            self.bulk_refused = Some(reason);
        }
        results
    }
}
