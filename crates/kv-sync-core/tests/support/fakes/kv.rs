//! A KV namespace in memory, with the binding's refusals, the bulk API's
//! request counting, and writes that land while their answers are lost.

use std::collections::HashMap;

use serde_json::Value;

use kv_sync_core::engine::error::SinkError;
use kv_sync_core::engine::kv_path::KvPath;
use kv_sync_core::engine::ports::{KvOp, KvSink};
use kv_sync_core::engine::record::Metadata;

use super::Faults;

/// Pairs one bulk API request carries.
const BULK_PAIRS: usize = 10_000;

#[derive(Default)]
pub struct FakeKv {
    pub data: HashMap<String, (String, Metadata)>,
    pub puts: u64,
    pub deletes: u64,
    /// Puts of the value (and source `updated_at`) KV already held for the
    /// key: writes repeated because kv-sync did not know the earlier one
    /// had landed.
    pub repeated_puts: u64,
    /// The largest batch handed to `apply`.
    pub largest_batch: usize,
    pub faults: Faults,
    /// Whether the bulk API is configured beside the binding.
    pub offers_bulk: bool,
    /// The path the run chose (`None`: not yet).
    pub path: Option<KvPath>,
    /// Requests each path carried, as the real sinks would send them.
    pub bulk_requests: u64,
    pub binding_requests: u64,
}

impl FakeKv {
    pub fn value(&self, key: &str) -> Option<Value> {
        self.data
            .get(key)
            .map(|(v, _)| serde_json::from_str(v).unwrap())
    }

    pub fn writes(&self) -> u64 {
        self.puts + self.deletes
    }

    fn store_op(&mut self, op: KvOp) {
        match op {
            KvOp::Put {
                key,
                value,
                metadata,
            } => {
                self.puts += 1;
                let held = self.data.get(&key);
                if held.is_some_and(|(v, m)| *v == value && m.updated_at == metadata.updated_at) {
                    self.repeated_puts += 1;
                }
                self.data.insert(key, (value, metadata));
            }
            KvOp::Delete { key } => {
                self.deletes += 1;
                self.data.remove(&key);
            }
        }
    }
}

/// What KV itself refuses, as the binding words it.
fn refusal(op: &KvOp) -> Option<SinkError> {
    matches!(op.key(), "." | "..").then(|| {
        SinkError::Rejected(format!(
            "TypeError: \"{}\" is not allowed as a key name",
            op.key()
        ))
    })
}

impl FakeKv {
    fn bulk_path(&self) -> bool {
        self.offers_bulk && self.path != Some(KvPath::Binding)
    }
}

impl KvSink for FakeKv {
    fn ops_per_request(&self) -> usize {
        if self.bulk_path() {
            BULK_PAIRS
        } else {
            1
        }
    }

    fn offers_bulk(&self) -> bool {
        self.offers_bulk
    }

    fn use_path(&mut self, path: KvPath) {
        self.path = Some(path);
    }

    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<Result<(), SinkError>> {
        self.largest_batch = self.largest_batch.max(ops.len());
        if self.bulk_path() {
            // Puts and deletes go to different endpoints.
            let puts = ops
                .iter()
                .filter(|op| matches!(op, KvOp::Put { .. }))
                .count();
            let deletes = ops.len() - puts;
            self.bulk_requests += (puts.div_ceil(BULK_PAIRS) + deletes.div_ceil(BULK_PAIRS)) as u64;
        } else {
            self.binding_requests += ops.len() as u64;
        }
        let n = ops.len();
        if !self.faults.strikes() {
            return ops
                .into_iter()
                .map(|op| match refusal(&op) {
                    Some(refused) => Err(refused),
                    None => {
                        self.store_op(op);
                        Ok(())
                    }
                })
                .collect();
        }
        match self.faults.pick(3) {
            // Every write landed, but the answers were lost.
            0 => {
                ops.into_iter()
                    .filter(|op| refusal(op).is_none())
                    .for_each(|op| self.store_op(op));
                vec![
                    Err(SinkError::Unavailable(
                        "connection reset after write".into()
                    ));
                    n
                ]
            }
            // The first k landed; the rest were rate limited.
            1 => {
                let k = self.faults.pick(n as u64 + 1) as usize;
                let mut results: Vec<Result<(), SinkError>> = ops[..k]
                    .iter()
                    .map(|op| refusal(op).map_or(Ok(()), Err))
                    .collect();
                ops.into_iter()
                    .take(k)
                    .filter(|op| refusal(op).is_none())
                    .for_each(|op| self.store_op(op));
                results.resize(
                    n,
                    Err(SinkError::RateLimited("429 Too Many Requests".into())),
                );
                results
            }
            // Nothing landed.
            _ => vec![Err(SinkError::Unavailable("503 Service Unavailable".into())); n],
        }
    }
}
