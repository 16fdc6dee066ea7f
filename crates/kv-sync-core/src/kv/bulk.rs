//! Writes through the KV bulk REST API: up to 10,000 pairs a request.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use serde_json::json;

use super::bulk_wire::{
    body, chunk, pieces, read_answer, BulkAnswer, Chunk, RequestBudget, MAX_PAIRS,
};
use crate::engine::error::SinkError;
use crate::engine::ports::{KvOp, KvSink};
use crate::engine::time::{to_rfc3339, Micros, MICROS_PER_MILLI};
use crate::runtime::url::encode;
use crate::runtime::{HttpRequest, HttpResponse, Method, Runtime};
use crate::settings::table::default_text;
use crate::settings::{ConfigError, Vars};

/// Where one namespace's bulk endpoints are and how to reach them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkEndpoint {
    pub api_base: String,
    pub account_id: String,
    pub namespace_id: String,
    pub api_token: String,
}

pub struct BulkSink<'r, R> {
    runtime: &'r R,
    /// `{api_base}/accounts/{account}/storage/kv/namespaces/{namespace}`.
    namespace_url: String,
    authorization: String,
    expiration_ttl: u64,
    /// Shared by every invocation of this coordinator: the token's budget.
    budget: Rc<RefCell<RequestBudget>>,
    /// A `Retry-After` wait is taken only if it ends before this.
    deadline: Micros,
    /// Why the API refused a request as a whole, until taken.
    unusable: Option<String>,
    /// Requests sent by this sink.
    sent: Cell<u64>,
}

impl<'r, R: Runtime> BulkSink<'r, R> {
    pub fn new(
        runtime: &'r R,
        endpoint: &BulkEndpoint,
        expiration_ttl: u64,
        budget: Rc<RefCell<RequestBudget>>,
        deadline: Micros,
    ) -> Self {
        BulkSink {
            runtime,
            namespace_url: format!(
                "{}/accounts/{}/storage/kv/namespaces/{}",
                endpoint.api_base.trim_end_matches('/'),
                encode(&endpoint.account_id),
                encode(&endpoint.namespace_id)
            ),
            authorization: format!("Bearer {}", endpoint.api_token),
            expiration_ttl,
            budget,
            deadline,
            unusable: None,
            sent: Cell::new(0),
        }
    }

    /// Requests this sink sent.
    pub fn requests_sent(&self) -> u64 {
        self.sent.get()
    }

    /// Why the API refused a request as a whole since the last call, if it
    /// did: then no pair of that `apply` was written.
    pub fn take_unusable(&mut self) -> Option<String> {
        self.unusable.take()
    }

    /// Sends one request within the token's budget.
    async fn send(
        &self,
        method: Method,
        url: &str,
        payload: &R::Held,
    ) -> Result<HttpResponse, SinkError> {
        let taken = self.budget.borrow_mut().take(self.runtime.now());
        if let Err(free_at) = taken {
            return Err(SinkError::RateLimited(format!(
                "KV bulk API: this sync's share of the token's requests ({} per 5 minutes) is used; more from {}",
                self.budget.borrow().limit(),
                to_rfc3339(free_at)
            )));
        }
        let headers = [
            ("Authorization", self.authorization.as_str()),
            ("Content-Type", "application/json"),
        ];
        let request = HttpRequest {
            method,
            url,
            headers: &headers,
            body: None,
        };
        self.sent.set(self.sent.get() + 1);
        self.runtime
            .send_held(request, payload)
            .await
            .map_err(|e| SinkError::Unavailable(format!("KV bulk API: {e}")))
    }

    /// One bulk request for a chunk, waiting out one `Retry-After` when the
    /// deadline allows.
    async fn write_chunk(&self, ops: &[KvOp], pieces: &[R::Held], chunk: &Chunk) -> BulkAnswer {
        let (url, method) = match chunk {
            Chunk::Puts(_) => (format!("{}/bulk", self.namespace_url), Method::Put),
            Chunk::Deletes(_) => (format!("{}/bulk/delete", self.namespace_url), Method::Post),
        };
        let payload = body(self.runtime, pieces, chunk);
        let indices = chunk.indices();
        let mut waited = false;
        loop {
            let answer = match self.send(method, &url, &payload).await {
                Ok(answer) => answer,
                Err(e) => return BulkAnswer::PerKey(vec![Err(e); indices.len()]),
            };
            let wait = answer.retry_after();
            self.runtime.log(
                &json!({"event": "kv_bulk_request", "keys": indices.len(), "status": answer.status,
                                    "retry_after_ms": wait.map(|w| w / MICROS_PER_MILLI)}),
            );
            match wait {
                Some(wait)
                    if answer.status == 429
                        && !waited
                        && self.runtime.now() + wait < self.deadline =>
                {
                    waited = true;
                    self.runtime.sleep(wait).await;
                }
                _ => return read_answer(answer.status, &answer.body, ops, indices),
            }
        }
    }
}

impl<R: Runtime> KvSink for BulkSink<'_, R> {
    fn ops_per_request(&self) -> usize {
        MAX_PAIRS
    }

    /// A request KV refuses whole (a key it will not take) is split in
    /// halves until the refused pairs stand alone: those are refused for
    /// good, and every other pair is written.
    async fn apply(&mut self, mut ops: Vec<KvOp>) -> Vec<Result<(), SinkError>> {
        let mut answers: Vec<Result<(), SinkError>> = vec![Ok(()); ops.len()];
        let mut pending = chunk(&ops);
        pending.reverse();
        let pieces = pieces(self.runtime, &mut ops, self.expiration_ttl);
        while let Some(chunk) = pending.pop() {
            let results = match self.write_chunk(&ops, &pieces, &chunk).await {
                BulkAnswer::PerKey(results) => results,
                BulkAnswer::Refused(reason) if chunk.indices().len() == 1 => {
                    vec![Err(SinkError::Rejected(reason))]
                }
                BulkAnswer::Refused(_) => {
                    let (first, second) = chunk.halves();
                    pending.push(second);
                    pending.push(first);
                    continue;
                }
                BulkAnswer::Unusable(reason) => {
                    let error = SinkError::Unavailable(format!("KV bulk API: {reason}"));
                    self.unusable = Some(reason);
                    return vec![Err(error); ops.len()];
                }
            };
            for (i, result) in chunk.indices().iter().zip(results) {
                answers[*i] = result;
            }
        }
        answers
    }
}

impl BulkEndpoint {
    /// The bulk path's settings: `None` unless `CLOUDFLARE_API_TOKEN` is
    /// set; then the account must be set too, and the sync's namespace
    /// (`namespace_id` says which setting is missing when it is not).
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        namespace_id: impl FnOnce() -> Result<String, ConfigError>,
    ) -> Result<Option<Self>, ConfigError> {
        let vars = Vars(var);
        let Some(api_token) = vars.text("CLOUDFLARE_API_TOKEN") else {
            return Ok(None);
        };
        let account_id = vars.text("CLOUDFLARE_ACCOUNT_ID").ok_or_else(|| {
            ConfigError::missing(
                "CLOUDFLARE_ACCOUNT_ID",
                "CLOUDFLARE_API_TOKEN is set, so the bulk path needs the account id",
            )
        })?;
        Ok(Some(BulkEndpoint {
            account_id,
            namespace_id: namespace_id()?,
            api_base: vars
                .text("CLOUDFLARE_API_BASE")
                .unwrap_or_else(|| default_text("CLOUDFLARE_API_BASE")),
            api_token,
        }))
    }
}

#[cfg(test)]
#[path = "bulk_tests.rs"]
mod tests;
