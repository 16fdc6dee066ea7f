//! The KV bulk REST API's requests and answers, and its request budget.
//!
//! `PUT …/bulk` takes up to 10,000 pairs and 100 MB; `POST …/bulk/delete`
//! up to 10,000 keys. The answer names the keys that were not written to
//! every storage backend (`unsuccessful_keys`): those, and only those, must
//! be written again. An API token may make 1,200 requests in 5 minutes;
//! past that Cloudflare blocks it for 5 minutes, so kv-sync counts its own
//! requests and stops short of the limit instead of finding it.

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::engine::error::SinkError;
use crate::engine::excerpt::first_line;
use crate::engine::ports::KvOp;
use crate::engine::time::{Micros, MICROS_PER_SECOND};
use crate::runtime::Runtime;

pub(crate) const MAX_PAIRS: usize = 10_000;
/// Under the documented 100 MB, leaving room for JSON framing.
pub(crate) const MAX_BODY_BYTES: usize = 95 * 1024 * 1024;
const WINDOW: Micros = 300 * MICROS_PER_SECOND;
/// Under Cloudflare's 1,200, leaving room for other users of the token.
const REQUESTS_PER_WINDOW: usize = 1_100;

/// One bulk request's worth of operations: the bulk API writes and deletes
/// through different endpoints, so a request holds one kind only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Indices of `Put` operations, for `PUT …/bulk`.
    Puts(Vec<usize>),
    /// Indices of `Delete` operations, for `POST …/bulk/delete`.
    Deletes(Vec<usize>),
}

impl Chunk {
    pub(crate) fn indices(&self) -> &[usize] {
        match self {
            Chunk::Puts(i) | Chunk::Deletes(i) => i,
        }
    }
}

/// Splits operations into bulk requests: puts and deletes apart, each chunk
/// within the pair and size limits.
pub(crate) fn chunk(ops: &[KvOp]) -> Vec<Chunk> {
    let mut puts = Vec::new();
    let mut deletes = Vec::new();
    let (mut current_puts, mut put_bytes) = (Vec::new(), 0);
    let mut current_deletes = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            KvOp::Put { key, value, .. } => {
                let size = key.len() + value.len() + PAIR_OVERHEAD;
                let full = current_puts.len() == MAX_PAIRS
                    || (put_bytes + size > MAX_BODY_BYTES && !current_puts.is_empty());
                if full {
                    puts.push(Chunk::Puts(std::mem::take(&mut current_puts)));
                    put_bytes = 0;
                }
                current_puts.push(i);
                put_bytes += size;
            }
            KvOp::Delete { .. } => {
                if current_deletes.len() == MAX_PAIRS {
                    deletes.push(Chunk::Deletes(std::mem::take(&mut current_deletes)));
                }
                current_deletes.push(i);
            }
        }
    }
    if !current_puts.is_empty() {
        puts.push(Chunk::Puts(current_puts));
    }
    if !current_deletes.is_empty() {
        deletes.push(Chunk::Deletes(current_deletes));
    }
    puts.extend(deletes);
    puts
}

/// JSON framing, metadata and TTL around one pair, over its key and value.
const PAIR_OVERHEAD: usize = 200;

/// One piece per operation, held by the runtime: a put's pair object
/// (`{"key":…,"value":…,"metadata":…}`), a delete's key. Each value is
/// taken out of its operation as its piece is made, so the values leave
/// wasm memory one by one rather than being copied into a body as large as
/// all of them; the operations keep their keys for reading the answers.
pub(crate) fn pieces<R: Runtime>(
    runtime: &R,
    ops: &mut [KvOp],
    expiration_ttl: u64,
) -> Vec<R::Held> {
    ops.iter_mut()
        .map(|op| match op {
            KvOp::Put {
                key,
                value,
                metadata,
            } => {
                let value = std::mem::take(value);
                let open = format!("{{\"key\":{},\"value\":", json(key.as_str()));
                let mut close = format!(",\"metadata\":{}", json(&*metadata));
                if expiration_ttl > 0 {
                    close.push_str(&format!(",\"expiration_ttl\":{expiration_ttl}"));
                }
                close.push('}');
                runtime.join(&open, &[&runtime.hold_as_json(&value)], "", &close)
            }
            KvOp::Delete { key } => runtime.hold(&json(key.as_str())),
        })
        .collect()
}

/// The JSON body of a bulk request for this chunk, from the pieces.
pub(crate) fn body<R: Runtime>(runtime: &R, pieces: &[R::Held], chunk: &Chunk) -> R::Held {
    let chosen: Vec<&R::Held> = chunk.indices().iter().map(|&i| &pieces[i]).collect();
    runtime.join("[", &chosen, ",", "]")
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("strings and metadata always serialise")
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

/// What a bulk answer says about a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BulkAnswer {
    /// One result per operation of the chunk.
    PerKey(Vec<Result<(), SinkError>>),
    /// HTTP 400 naming a key of the chunk: a key KV refuses fails the
    /// whole request. The sink splits the chunk until the refused pairs
    /// stand alone.
    Refused(String),
    /// The request refused as a whole for what it was sent with, not what
    /// it carried: 401, 403, 404, or a 400 that names none of its keys (a
    /// wrong account or namespace id, a revoked token). No pair is at fault;
    /// the path is unusable until its configuration is fixed.
    Unusable(String),
}

/// Whether the API's `message` names one of the keys at `indices`, quoted
/// as JSON does (a bare key could be any word of the message).
fn names_a_key(message: &str, ops: &[KvOp], indices: &[usize]) -> bool {
    indices
        .iter()
        .any(|&i| serde_json::to_string(ops[i].key()).is_ok_and(|quoted| message.contains(&quoted)))
}

/// Reads a bulk answer for the operations at `indices`.
pub(crate) fn read_answer(status: u16, body: &str, ops: &[KvOp], indices: &[usize]) -> BulkAnswer {
    let all = |e: SinkError| BulkAnswer::PerKey(vec![Err(e); indices.len()]);
    let envelope: Option<Envelope> = serde_json::from_str(body).ok();
    let message = envelope
        .as_ref()
        .and_then(|e| e.errors.first())
        .map(|m| format!("{} (code {})", first_line(&m.message), m.code))
        .unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        400 if names_a_key(&message, ops, indices) => {
            return BulkAnswer::Refused(format!("KV bulk API: {message}"))
        }
        400 | 401 | 403 | 404 => return BulkAnswer::Unusable(format!("HTTP {status}: {message}")),
        429 => return all(SinkError::RateLimited(format!("KV bulk API: {message}"))),
        500..=599 => return all(SinkError::Unavailable(format!("KV bulk API: {message}"))),
        200..=299 => {}
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
    BulkAnswer::PerKey(
        indices
            .iter()
            .map(|&i| match failed.contains(ops[i].key()) {
                true => Err(SinkError::Unavailable(
                    "KV bulk API: not written to every backend; retried".into(),
                )),
                false => Ok(()),
            })
            .collect(),
    )
}

impl Chunk {
    /// The chunk in two halves, to find the pairs a refused request holds.
    pub(crate) fn halves(&self) -> (Chunk, Chunk) {
        let indices = self.indices();
        let (a, b) = indices.split_at(indices.len() / 2);
        match self {
            Chunk::Puts(_) => (Chunk::Puts(a.to_vec()), Chunk::Puts(b.to_vec())),
            Chunk::Deletes(_) => (Chunk::Deletes(a.to_vec()), Chunk::Deletes(b.to_vec())),
        }
    }
}

/// One sync's share of the API token's request budget, over a sliding
/// 5-minute window.
///
/// The token is the deployment's, shared by every sync that writes through
/// the bulk API, and each sync has its own coordinator; rather than a
/// coordinator of coordinators, the budget is split evenly: each of n syncs
/// may send `1,100 / n` requests in any 5 minutes. The times of its requests
/// are kept in its storage, so a restarted coordinator keeps counting.
pub struct RequestBudget {
    sent: VecDeque<Micros>,
    limit: usize,
}

impl Default for RequestBudget {
    fn default() -> Self {
        RequestBudget::new(1, Vec::new())
    }
}

impl RequestBudget {
    /// The share of one of `syncs` syncs on the bulk path, with the times
    /// of the requests it sent already.
    pub fn new(syncs: usize, sent: Vec<Micros>) -> Self {
        RequestBudget {
            sent: sent.into(),
            limit: REQUESTS_PER_WINDOW / syncs.max(1),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The times of the requests sent in the window, oldest first.
    pub fn sent(&self) -> Vec<Micros> {
        self.sent.iter().copied().collect()
    }

    /// Records a request at `now` if the budget allows one; else returns
    /// when it will.
    pub fn take(&mut self, now: Micros) -> Result<(), Micros> {
        while self.sent.front().is_some_and(|&t| now - t >= WINDOW) {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.limit {
            return Err(self.sent[0] + WINDOW);
        }
        self.sent.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
#[path = "bulk_wire_tests.rs"]
mod tests;
