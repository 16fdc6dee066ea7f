//! Writes through the KV bulk REST API: up to 10,000 pairs a request.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use worker::{Delay, Method};

use super::bulk_wire::{body, chunk, results, retry_after, RequestBudget};
use crate::coordinator::{log, now};
use crate::engine::error::SinkError;
use crate::engine::ports::{KvOp, KvSink};
use crate::engine::time::{Micros, MICROS_PER_MILLI};
use crate::outbound::{self, NoAnswer};

pub struct BulkSink {
    /// `{api_base}/accounts/{account}/storage/kv/namespaces/{namespace}`.
    namespace_url: String,
    api_token: String,
    expiration_ttl: u64,
    /// Shared by every invocation of this coordinator: the token's budget.
    budget: Rc<RefCell<RequestBudget>>,
    /// A `Retry-After` wait is taken only if it ends before this.
    deadline: Micros,
}

impl BulkSink {
    pub fn new(
        api_base: &str,
        account_id: &str,
        namespace_id: &str,
        api_token: String,
        expiration_ttl: u64,
        budget: Rc<RefCell<RequestBudget>>,
        deadline: Micros,
    ) -> Self {
        BulkSink {
            namespace_url: format!(
                "{}/accounts/{account_id}/storage/kv/namespaces/{namespace_id}",
                api_base.trim_end_matches('/')
            ),
            api_token,
            expiration_ttl,
            budget,
            deadline,
        }
    }

    async fn send(
        &self,
        url: &str,
        method: Method,
        body: String,
    ) -> Result<(u16, Option<String>, String), SinkError> {
        let authorization = format!("Bearer {}", self.api_token);
        let headers = [
            ("Authorization", authorization.as_str()),
            ("Content-Type", "application/json"),
        ];
        let answer = outbound::send(method, url, &headers, Some(body))
            .await
            .map_err(|NoAnswer(e)| SinkError::Unavailable(format!("KV bulk API: {e}")))?;
        Ok((answer.status, answer.retry_after, answer.body))
    }

    /// One bulk request for a chunk, waiting out one `Retry-After` when the
    /// budget allows, answered per operation.
    async fn write_chunk(&self, ops: &[KvOp], indices: &[usize]) -> Vec<Result<(), SinkError>> {
        let is_put = matches!(ops[indices[0]], KvOp::Put { .. });
        let (url, method) = if is_put {
            (format!("{}/bulk", self.namespace_url), Method::Put)
        } else {
            (format!("{}/bulk/delete", self.namespace_url), Method::Post)
        };
        let payload = match body(ops, indices, if is_put { self.expiration_ttl } else { 0 }) {
            Ok(p) => p,
            Err(e) => return vec![Err(e); indices.len()],
        };
        let mut waited = false;
        loop {
            if let Err(free_at) = self.budget.borrow_mut().take(now()) {
                let message = format!(
                    "KV bulk API: this token's 1,100 requests per 5 minutes are used; more from {}",
                    crate::engine::time::to_rfc3339(free_at)
                );
                return vec![Err(SinkError::RateLimited(message)); indices.len()];
            }
            let (status, retry, text) = match self.send(&url, method.clone(), payload.clone()).await
            {
                Ok(answer) => answer,
                Err(e) => return vec![Err(e); indices.len()],
            };
            let wait = retry_after(retry.as_deref());
            log(
                json!({"event": "kv_bulk_request", "keys": indices.len(), "status": status,
                       "retry_after_ms": wait.map(|w| w / MICROS_PER_MILLI)}),
            );
            match wait {
                Some(wait) if status == 429 && !waited && now() + wait < self.deadline => {
                    waited = true;
                    Delay::from(Duration::from_micros(wait.max(0) as u64)).await;
                }
                _ => return results(status, &text, ops, indices),
            }
        }
    }
}

impl KvSink for BulkSink {
    async fn apply(&mut self, ops: Vec<KvOp>) -> Vec<Result<(), SinkError>> {
        let mut answers: Vec<Result<(), SinkError>> = vec![Ok(()); ops.len()];
        for indices in chunk(&ops) {
            for (i, result) in indices.iter().zip(self.write_chunk(&ops, &indices).await) {
                answers[*i] = result;
            }
        }
        answers
    }
}
