//! The KV bulk REST API's requests and answers, and its request budget.
//!
//! `PUT …/bulk` takes up to 10,000 pairs and 100 MB; `POST …/bulk/delete`
//! up to 10,000 keys. The answer names the keys that were not written to
//! every storage backend (`unsuccessful_keys`): those, and only those, must
//! be written again. An API token may make 1,200 requests in 5 minutes;
//! past that Cloudflare blocks it for 5 minutes, so kv-sync counts its own
//! requests and stops short of the limit instead of finding it.

use std::collections::{HashSet, VecDeque};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::error::SinkError;
use crate::engine::ports::KvOp;
use crate::engine::time::{Micros, MICROS_PER_SECOND};

pub const MAX_PAIRS: usize = 10_000;
/// Under the documented 100 MB, leaving room for JSON framing.
pub const MAX_BODY_BYTES: usize = 95 * 1024 * 1024;
const WINDOW: Micros = 300 * MICROS_PER_SECOND;
/// Under Cloudflare's 1,200, leaving room for other users of the token.
const REQUESTS_PER_WINDOW: usize = 1_100;

/// Splits operations into bulk requests: puts and deletes apart, each chunk
/// within the pair and size limits. Returns the indices of `ops` per chunk.
pub fn chunk(ops: &[KvOp]) -> Vec<Vec<usize>> {
    let mut chunks = Vec::new();
    for want_put in [true, false] {
        let mut current: Vec<usize> = Vec::new();
        let mut bytes = 0;
        for (i, op) in ops.iter().enumerate() {
            let (is_put, size) = match op {
                KvOp::Put {
                    key,
                    value,
                    metadata,
                } => (true, key.len() + value.len() + metadata.len() + 64),
                KvOp::Delete { key } => (false, key.len() + 4),
            };
            if is_put != want_put {
                continue;
            }
            if current.len() == MAX_PAIRS || (bytes + size > MAX_BODY_BYTES && !current.is_empty())
            {
                chunks.push(std::mem::take(&mut current));
                bytes = 0;
            }
            current.push(i);
            bytes += size;
        }
        if !current.is_empty() {
            chunks.push(current);
        }
    }
    chunks
}

/// The JSON body of a bulk write or delete for these operations.
pub fn body(ops: &[KvOp], indices: &[usize], expiration_ttl: u64) -> Result<String, SinkError> {
    let items: Vec<Value> = indices
        .iter()
        .map(|&i| match &ops[i] {
            KvOp::Put {
                key,
                value,
                metadata,
            } => {
                let metadata: Value = serde_json::from_str(metadata)
                    .map_err(|e| SinkError::Rejected(e.to_string()))?;
                let mut pair = json!({"key": key, "value": value, "metadata": metadata});
                if expiration_ttl > 0 {
                    pair["expiration_ttl"] = json!(expiration_ttl);
                }
                Ok(pair)
            }
            KvOp::Delete { key } => Ok(Value::String(key.clone())),
        })
        .collect::<Result<_, _>>()?;
    Ok(Value::Array(items).to_string())
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    result: Option<BulkResult>,
}

#[derive(Deserialize)]
struct ApiMessage {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct BulkResult {
    #[serde(default)]
    unsuccessful_keys: Vec<String>,
}

/// Reads a bulk answer into one result per operation of the chunk.
pub fn results(
    status: u16,
    body: &str,
    ops: &[KvOp],
    indices: &[usize],
) -> Vec<Result<(), SinkError>> {
    let all = |e: SinkError| vec![Err(e); indices.len()];
    let envelope: Option<Envelope> = serde_json::from_str(body).ok();
    let message = envelope
        .as_ref()
        .and_then(|e| e.errors.first())
        .map(|m| format!("{} (code {})", m.message, m.code))
        .unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        429 => return all(SinkError::RateLimited(format!("KV bulk API: {message}"))),
        500..=599 => return all(SinkError::Unavailable(format!("KV bulk API: {message}"))),
        200..=299 => {}
        // A bad token or namespace fails every write the same way: not a row's fault.
        _ => {
            return all(SinkError::Unavailable(format!(
                "KV bulk API refused the request: {message}"
            )))
        }
    }
    let Some(envelope) = envelope.filter(|e| e.success) else {
        return all(SinkError::Unavailable(format!(
            "KV bulk API: unexpected answer: {message}"
        )));
    };
    let failed: HashSet<String> = envelope
        .result
        .map(|r| r.unsuccessful_keys)
        .unwrap_or_default()
        .into_iter()
        .collect();
    indices
        .iter()
        .map(|&i| match failed.contains(ops[i].key()) {
            true => Err(SinkError::Unavailable(
                "KV bulk API: not written to every backend; retried".into(),
            )),
            false => Ok(()),
        })
        .collect()
}

/// The token's request budget over a sliding 5-minute window.
#[derive(Default)]
pub struct RequestBudget {
    sent: VecDeque<Micros>,
}

impl RequestBudget {
    /// Records a request at `now` if the budget allows one; else returns
    /// when it will.
    pub fn take(&mut self, now: Micros) -> Result<(), Micros> {
        while self.sent.front().is_some_and(|&t| now - t >= WINDOW) {
            self.sent.pop_front();
        }
        if self.sent.len() >= REQUESTS_PER_WINDOW {
            return Err(self.sent[0] + WINDOW);
        }
        self.sent.push_back(now);
        Ok(())
    }
}

/// `Retry-After` in seconds (the form Cloudflare sends), as microseconds.
pub fn retry_after(header: Option<&str>) -> Option<Micros> {
    header?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|s| s as Micros * MICROS_PER_SECOND)
}

#[cfg(test)]
#[path = "bulk_wire_tests.rs"]
mod tests;
