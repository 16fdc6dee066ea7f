//! Writes through a KV binding, many at a time.
//!
//! Each put is a separate KV operation (the binding has no batch put), so
//! the batch is sent with bounded concurrency and answered per operation:
//! the engine moves its cursor only past acknowledged writes.

use futures::stream::{self, StreamExt};

use super::binding_errors::classify;
use crate::coordinator::ports::KvNamespace;
use crate::engine::error::SinkError;
use crate::engine::ports::{KvOp, KvSink};
use crate::engine::time::{parse_rfc3339, Micros};

/// Writes in flight at once. The local runtime is about 3× faster at 32
/// than one at a time; production KV handles far more.
const CONCURRENCY: usize = 32;

pub struct BindingSink<N> {
    kv: N,
    expiration_ttl: u64,
}

impl<N: KvNamespace> BindingSink<N> {
    pub fn new(kv: N, expiration_ttl: u64) -> Self {
        BindingSink { kv, expiration_ttl }
    }

    async fn apply_one(&self, op: KvOp) -> Result<(), SinkError> {
        let answer = match op {
            KvOp::Put {
                key,
                value,
                metadata,
            } => {
                self.kv
                    .put(&key, &value, metadata, self.expiration_ttl)
                    .await
            }
            KvOp::Delete { key } => self.kv.delete(&key).await,
        };
        answer.map_err(|e| classify(&e))
    }
}

impl<N: KvNamespace> KvSink for BindingSink<N> {
    fn ops_per_request(&self) -> usize {
        1
    }

    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<Result<(), SinkError>> {
        let this = &*self;
        // Unordered, so one slow put does not hold the slots of the writes
        // that finished after it (`buffered` keeps them until it is done);
        // the answers are put back in order afterwards.
        let mut answers: Vec<(usize, Result<(), SinkError>)> =
            stream::iter(ops.into_iter().enumerate())
                .map(|(i, op)| async move { (i, this.apply_one(op).await) })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        answers.sort_unstable_by_key(|(i, _)| *i);
        answers.into_iter().map(|(_, answer)| answer).collect()
    }

    async fn synced_at(&mut self, keys: &[String]) -> Vec<Result<Option<Micros>, SinkError>> {
        let kv = &self.kv;
        stream::iter(keys)
            .map(|key| async move {
                let metadata = kv.metadata(key).await.map_err(|e| classify(&e))?;
                Ok(metadata.as_deref().and_then(synced_at))
            })
            .buffered(CONCURRENCY)
            .collect()
            .await
    }
}

/// `synced_at` of kv-sync's metadata; `None` for metadata it did not write.
fn synced_at(metadata: &str) -> Option<Micros> {
    let metadata: serde_json::Value = serde_json::from_str(metadata).ok()?;
    parse_rfc3339(metadata.get("synced_at")?.as_str()?)
}
