//! The KV writers a deployment is configured for: always the binding, and
//! the bulk API beside it when a token is set, each run choosing between
//! them by its size (`engine::kv_path`).

use super::binding::BindingSink;
use super::bulk::BulkSink;
use crate::coordinator::ports::KvNamespace;
use crate::engine::error::SinkError;
use crate::engine::kv_path::KvPath;
use crate::engine::ports::{KvOp, KvSink};
use crate::runtime::Runtime;

pub struct PathSink<'r, N, R> {
    binding: BindingSink<N>,
    bulk: Option<BulkSink<'r, R>>,
    path: KvPath,
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

    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<Result<(), SinkError>> {
        match (&mut self.bulk, self.path) {
            (Some(bulk), KvPath::Bulk) => bulk.apply(ops).await,
            _ => self.binding.apply(ops).await,
        }
    }
}
