//! Sends the engine's queries to BigQuery's REST API through the runtime,
//! signed in as a service account when credentials are configured, and
//! carries out the retry policy of `retry` inside the invocation's budget.

use serde_json::json;

use super::credentials::{
    jwt, parse_token_response, token_request_body, AccessToken, ServiceAccountKey,
};
use super::endpoint::BigQueryConfig;
use super::job_statistics::job_cost;
use super::retry::{Failure, NextStep, Retries};
use super::wire::{parse_response, query_request, results_query_string, Call};
use crate::engine::error::WarehouseError;
use crate::engine::ports::{JobRef, ResultPage, Warehouse};
use crate::engine::record::ContentHash;
use crate::engine::source_query::SourceQuery;
use crate::engine::spend::JobCost;
use crate::engine::time::{Micros, MICROS_PER_MILLI, MICROS_PER_SECOND};
use crate::runtime::url::encode;
use crate::runtime::{HttpRequest, HttpResponse, Method, Runtime};

/// A service account's key and the access token it holds now.
pub struct ServiceAccountAuth {
    pub key: ServiceAccountKey,
    pub token: Option<AccessToken>,
}

pub struct BigQueryClient<'r, R> {
    runtime: &'r R,
    api_base: String,
    project_id: String,
    location: String,
    /// `None` talks to an endpoint without credentials (a local emulator).
    auth: Option<ServiceAccountAuth>,
    /// No retry starts a wait that would end after this time.
    deadline: Micros,
    /// The digest and the JSON of the last result schema read.
    result_schema: Option<(ContentHash, String)>,
}

/// A call that failed, with what the answer asked of a retry.
struct CallError {
    error: WarehouseError,
    retry_after: Option<Micros>,
}

impl From<WarehouseError> for CallError {
    fn from(error: WarehouseError) -> Self {
        CallError {
            error,
            retry_after: None,
        }
    }
}

impl<'r, R: Runtime> BigQueryClient<'r, R> {
    pub fn new(
        runtime: &'r R,
        config: &BigQueryConfig,
        project_id: &str,
        auth: Option<ServiceAccountAuth>,
        deadline: Micros,
    ) -> Self {
        BigQueryClient {
            runtime,
            api_base: config.api_base.clone(),
            project_id: project_id.to_string(),
            location: config.location.clone(),
            auth,
            deadline,
            result_schema: None,
        }
    }

    /// The token in use now, with the account it belongs to, so the
    /// coordinator can keep it for the next invocation.
    pub fn token(&self) -> Option<(&str, &AccessToken)> {
        let auth = self.auth.as_ref()?;
        Some((auth.key.client_email.as_str(), auth.token.as_ref()?))
    }

    fn url(&self, project: &str, tail: &str) -> String {
        format!(
            "{}/bigquery/v2/projects/{}/{tail}",
            self.api_base,
            encode(project)
        )
    }

    /// Signs a JWT with the key and exchanges it for an access token.
    async fn mint_token(&self, key: &ServiceAccountKey) -> Result<AccessToken, WarehouseError> {
        let now = self.runtime.now();
        let input = key.jwt_signing_input(now);
        let signature = self
            .runtime
            .sign_rs256(&key.private_key_der()?, input.as_bytes())
            .await
            .map_err(|e| {
                WarehouseError::Auth(format!("cannot sign with BIGQUERY_CREDENTIALS: {e}"))
            })?;
        let body = token_request_body(&jwt(&input, &signature));
        let answer = self
            .runtime
            .send(HttpRequest {
                method: Method::Post,
                url: &key.token_uri,
                headers: &[("Content-Type", "application/x-www-form-urlencoded")],
                body: Some(&body),
            })
            .await
            .map_err(|e| WarehouseError::Unreachable(e.0))?;
        let token = parse_token_response(answer.status, &answer.body, now)?;
        self.runtime.log(
            &json!({"event": "token_minted", "client_email": key.client_email,
                                "expires_at": token.expires_at / MICROS_PER_SECOND}),
        );
        Ok(token)
    }

    /// The `Authorization` header, minting a token when none is usable.
    async fn authorization(&mut self) -> Result<Option<String>, WarehouseError> {
        let now = self.runtime.now();
        let Some(auth) = self.auth.as_ref() else {
            return Ok(None);
        };
        let token = match auth.token.as_ref().filter(|t| t.usable(now)) {
            Some(t) => t.token.clone(),
            None => {
                let fresh = self.mint_token(&auth.key).await?;
                let token = fresh.token.clone();
                if let Some(auth) = self.auth.as_mut() {
                    auth.token = Some(fresh);
                }
                token
            }
        };
        Ok(Some(format!("Bearer {token}")))
    }

    async fn send_once(
        &mut self,
        call: Call,
        method: Method,
        url: &str,
        body: Option<&str>,
    ) -> Result<ResultPage, CallError> {
        let authorization = self.authorization().await?;
        let mut headers = vec![("Accept", "application/json")];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization));
        }
        let answer = self
            .runtime
            .send(HttpRequest {
                method,
                url,
                headers: &headers,
                body,
            })
            .await
            .map_err(|e| WarehouseError::Unreachable(e.0))?;
        parse_response(call, answer.status, &answer.body).map_err(|error| CallError {
            error,
            retry_after: answer.retry_after(),
        })
    }

    /// Sends with the retry policy of `retry::Retries`.
    async fn send(
        &mut self,
        call: Call,
        method: Method,
        url: &str,
        body: Option<&str>,
    ) -> Result<ResultPage, WarehouseError> {
        let mut retries = Retries::new(self.deadline);
        loop {
            let used_cached_token = self.auth.as_ref().is_some_and(|a| a.token.is_some());
            let CallError { error, retry_after } =
                match self.send_once(call, method, url, body).await {
                    Ok(page) => {
                        if let (Some(digest), Some(fields)) = (page.schema, &page.schema_fields) {
                            self.result_schema = Some((digest, fields.clone()));
                        }
                        return Ok(page);
                    }
                    Err(e) => e,
                };
            let failure = Failure {
                error: &error,
                used_cached_token,
                retry_after,
                now: self.runtime.now(),
                random: self.runtime.random(),
            };
            match retries.after(failure) {
                NextStep::RenewToken => {
                    if let Some(auth) = self.auth.as_mut() {
                        auth.token = None;
                    }
                }
                NextStep::Wait(wait) => {
                    self.runtime.log(
                        &json!({"event": "bigquery_retry", "error": error.to_string(),
                                            "wait_ms": wait / MICROS_PER_MILLI}),
                    );
                    self.runtime.sleep(wait).await;
                }
                NextStep::GiveUp => return Err(error),
            }
        }
    }
}

impl<R: Runtime> Warehouse for BigQueryClient<'_, R> {
    async fn start_query(&mut self, query: &SourceQuery) -> Result<ResultPage, WarehouseError> {
        let body = query_request(query, &self.location).to_string();
        let url = self.url(&self.project_id, "queries");
        self.send(Call::Query, Method::Post, &url, Some(&body))
            .await
    }

    async fn read_page(
        &mut self,
        job: &JobRef,
        page_token: Option<&str>,
        max_rows: u32,
    ) -> Result<ResultPage, WarehouseError> {
        let tail = format!(
            "queries/{}?{}",
            encode(&job.job_id),
            results_query_string(job, page_token, max_rows)
        );
        let url = self.url(&job.project_id, &tail);
        let mut page = self.send(Call::Results, Method::Get, &url, None).await?;
        // The first page of a job that finished after `jobs.query` answered
        // carries no bill: `jobs.get` has it.
        if page_token.is_none() && page.complete && page.cost.bytes_billed.is_none() {
            page.cost = self.finished_job_cost(job, page.cost).await;
        }
        Ok(page)
    }

    fn result_schema(&self) -> Option<(ContentHash, String)> {
        self.result_schema.clone()
    }

    async fn cancel(&mut self, job: &JobRef) -> Result<(), WarehouseError> {
        let status = self.send_plain(Method::Post, job, "/cancel").await?.status;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(WarehouseError::Backend(format!(
                "jobs.cancel of {} answered HTTP {status}",
                job.job_id
            )))
        }
    }
}

impl<R: Runtime> BigQueryClient<'_, R> {
    /// One request about `job` (`jobs/ID` + `action`), without retries:
    /// what it is for is worth one attempt, never a run's failure.
    async fn send_plain(
        &mut self,
        method: Method,
        job: &JobRef,
        action: &str,
    ) -> Result<HttpResponse, WarehouseError> {
        let location = job
            .location
            .as_deref()
            .map_or_else(String::new, |l| format!("?location={}", encode(l)));
        let tail = format!("jobs/{}{action}{location}", encode(&job.job_id));
        let url = self.url(&job.project_id, &tail);
        let authorization = self.authorization().await?;
        let mut headers = vec![("Accept", "application/json")];
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization));
        }
        self.runtime
            .send(HttpRequest {
                method,
                url: &url,
                headers: &headers,
                body: None,
            })
            .await
            .map_err(|e| WarehouseError::Unreachable(e.0))
    }

    /// `reported` completed with what `jobs.get` says `job` cost; when it
    /// cannot say, `reported` as it was (the bill stays unknown, never
    /// guessed), and the log says why.
    async fn finished_job_cost(&mut self, job: &JobRef, reported: JobCost) -> JobCost {
        let answer = self.send_plain(Method::Get, job, "").await;
        match answer.and_then(|a| job_cost(a.status, &a.body)) {
            Ok(stats) => JobCost {
                bytes_billed: stats.bytes_billed,
                bytes_processed: reported.bytes_processed.or(stats.bytes_processed),
                cache_hit: reported.cache_hit.or(stats.cache_hit),
            },
            Err(e) => {
                self.runtime
                    .log(&json!({"event": "bigquery_job_cost_unknown",
                    "job": job.job_id, "error": e.to_string()}));
                reported
            }
        }
    }
}
