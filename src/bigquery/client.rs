//! Sends the engine's queries to BigQuery over the Workers `fetch`, signed
//! in as a service account when credentials are configured, and retries
//! transient failures with jittered exponential backoff inside the
//! invocation's budget.

use std::time::Duration;

use serde_json::json;
use worker::{Delay, Method};

use super::credentials::{
    jwt, parse_token_response, token_request_body, AccessToken, ServiceAccountKey,
};
use super::signer::sign_rs256;
use super::wire::{encode, parse_response, query_request, results_query_string, Call};
use crate::coordinator::{log, now};
use crate::engine::error::{Retry, WarehouseError};
use crate::engine::ports::{JobRef, ResultPage, Warehouse};
use crate::engine::source_query::SourceQuery;
use crate::engine::time::{Micros, MICROS_PER_MILLI, MICROS_PER_SECOND};
use crate::outbound::{self, NoAnswer};

const FIRST_RETRY: Micros = MICROS_PER_SECOND;
const LAST_RETRY: Micros = 32 * MICROS_PER_SECOND;

/// A service account's key and the access token it holds now.
pub struct ServiceAccountAuth {
    pub key: ServiceAccountKey,
    pub token: Option<AccessToken>,
}

pub struct BigQueryClient {
    api_base: String,
    project_id: String,
    location: String,
    /// `None` talks to an endpoint without credentials (a local emulator).
    pub auth: Option<ServiceAccountAuth>,
    /// No retry starts a wait that would end after this time.
    deadline: Micros,
}

/// Sends one request; no answer at all is `Unreachable`.
async fn http(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Result<(u16, String), WarehouseError> {
    let answer = outbound::send(method, url, headers, body)
        .await
        .map_err(|NoAnswer(e)| WarehouseError::Unreachable(e))?;
    Ok((answer.status, answer.body))
}

/// Signs a JWT with the key and exchanges it for an access token.
async fn mint_token(key: &ServiceAccountKey) -> Result<AccessToken, WarehouseError> {
    let now = now();
    let input = key.jwt_signing_input(now);
    let signature = sign_rs256(&key.private_key_der()?, input.as_bytes())
        .await
        .map_err(|e| WarehouseError::Auth(format!("cannot sign with BIGQUERY_CREDENTIALS: {e}")))?;
    let (status, body) = http(
        Method::Post,
        &key.token_uri,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(token_request_body(&jwt(&input, &signature))),
    )
    .await?;
    let token = parse_token_response(status, &body, now)?;
    log(
        json!({"event": "token_minted", "client_email": key.client_email, "expires_at": token.expires_at / MICROS_PER_SECOND}),
    );
    Ok(token)
}

impl BigQueryClient {
    pub fn new(
        api_base: &str,
        project_id: &str,
        location: &str,
        auth: Option<ServiceAccountAuth>,
        deadline: Micros,
    ) -> Self {
        BigQueryClient {
            api_base: api_base.trim_end_matches('/').to_string(),
            project_id: project_id.to_string(),
            location: location.to_string(),
            auth,
            deadline,
        }
    }

    fn url(&self, project: &str, tail: &str) -> String {
        format!(
            "{}/bigquery/v2/projects/{}/{tail}",
            self.api_base,
            encode(project)
        )
    }

    /// The `Authorization` header, minting a token when none is usable.
    async fn authorization(&mut self) -> Result<Option<String>, WarehouseError> {
        let Some(auth) = self.auth.as_mut() else {
            return Ok(None);
        };
        let token = match auth.token.as_ref().filter(|t| t.usable(now())) {
            Some(t) => t.token.clone(),
            None => {
                let fresh = mint_token(&auth.key).await?;
                let token = fresh.token.clone();
                auth.token = Some(fresh);
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
        body: Option<String>,
    ) -> Result<ResultPage, WarehouseError> {
        let authorization = self.authorization().await?;
        let mut headers = vec![("Accept", "application/json")];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization));
        }
        let (status, text) = http(method, url, &headers, body).await?;
        parse_response(call, status, &text)
    }

    /// Sends with the retry policy: a rejected token is dropped and the call
    /// made once more with a new one; what the error table calls transient
    /// (`Retry::Soon`) waits 1 s, 2 s, … 32 s (±25 %) while the budget allows.
    async fn send(
        &mut self,
        call: Call,
        method: Method,
        url: &str,
        body: Option<String>,
    ) -> Result<ResultPage, WarehouseError> {
        let mut delay = FIRST_RETRY;
        let mut token_renewed = false;
        loop {
            let result = self
                .send_once(call, method.clone(), url, body.clone())
                .await;
            match result {
                Err(WarehouseError::Auth(_))
                    if !token_renewed && self.auth.as_ref().is_some_and(|a| a.token.is_some()) =>
                {
                    token_renewed = true;
                    if let Some(auth) = self.auth.as_mut() {
                        auth.token = None;
                    }
                }
                Err(e) if e.retry() == Retry::Soon => {
                    let jittered = (delay as f64 * (0.75 + 0.5 * js_sys::Math::random())) as Micros;
                    if now() + jittered > self.deadline {
                        return Err(e);
                    }
                    log(
                        json!({"event": "bigquery_retry", "error": format!("{e:?}"), "wait_ms": jittered / MICROS_PER_MILLI}),
                    );
                    Delay::from(Duration::from_micros(jittered as u64)).await;
                    delay = (delay * 2).min(LAST_RETRY);
                }
                other => return other,
            }
        }
    }
}

impl Warehouse for BigQueryClient {
    async fn start_query(&mut self, query: &SourceQuery) -> Result<ResultPage, WarehouseError> {
        let body = query_request(query, &self.location).to_string();
        let url = self.url(&self.project_id, "queries");
        self.send(Call::Query, Method::Post, &url, Some(body)).await
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
        self.send(Call::Results, Method::Get, &url, None).await
    }
}
