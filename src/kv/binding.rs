//! Writes through the Worker's KV binding, many at a time.
//!
//! Each put is a separate KV operation (the binding has no batch put), so
//! the batch is sent with bounded concurrency and answered per operation:
//! the engine moves its cursor only past acknowledged writes.

use futures::stream::{self, StreamExt};
use worker::kv::KvStore;

use super::binding_errors::classify;
use crate::engine::error::SinkError;
use crate::engine::ports::{KvOp, KvSink};

/// Writes in flight at once. The local runtime is about 3× faster at 32
/// than one at a time; production KV handles far more.
const CONCURRENCY: usize = 32;

pub struct BindingSink {
    kv: KvStore,
    expiration_ttl: u64,
}

impl BindingSink {
    pub fn new(kv: KvStore, expiration_ttl: u64) -> Self {
        BindingSink { kv, expiration_ttl }
    }

    async fn apply_one(&self, op: KvOp) -> Result<(), SinkError> {
        match op {
            KvOp::Put {
                key,
                value,
                metadata,
            } => {
                // As bytes: `put` of a `String` goes through serde, which
                // copies the value back into wasm memory once more only to
                // check it became a string. KV keeps bytes either way.
                let mut put = self
                    .kv
                    .put_bytes(&key, value.as_bytes())
                    .map_err(|e| classify(&e.to_string()))?
                    .metadata(metadata)
                    .map_err(|e| classify(&e.to_string()))?;
                if self.expiration_ttl > 0 {
                    put = put.expiration_ttl(self.expiration_ttl);
                }
                put.execute().await.map_err(|e| classify(&e.to_string()))
            }
            KvOp::Delete { key } => self
                .kv
                .delete(&key)
                .await
                .map_err(|e| classify(&e.to_string())),
        }
    }
}

impl KvSink for BindingSink {
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
}
