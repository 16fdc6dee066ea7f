//! Sends the engine's queries to BigQuery over the Workers `fetch`.

use worker::{Fetch, Headers, Method, Request, RequestInit};

use super::wire::{parse_response, query_request, results_query_string, Call};
use crate::engine::error::WarehouseError;
use crate::engine::ports::{JobRef, ResultPage, Warehouse};
use crate::engine::source_query::SourceQuery;

pub struct BigQueryClient {
    api_base: String,
    project_id: String,
    location: String,
    /// `Authorization` header value; `None` talks to an emulator unauthenticated.
    authorization: Option<String>,
}

impl BigQueryClient {
    pub fn new(
        api_base: &str,
        project_id: &str,
        location: &str,
        authorization: Option<String>,
    ) -> Self {
        BigQueryClient {
            api_base: api_base.trim_end_matches('/').to_string(),
            project_id: project_id.to_string(),
            location: location.to_string(),
            authorization,
        }
    }

    fn url(&self, project: &str, tail: &str) -> String {
        format!(
            "{}/bigquery/v2/projects/{}/{tail}",
            self.api_base,
            super::wire::encode(project)
        )
    }

    async fn send(
        &self,
        call: Call,
        method: Method,
        url: &str,
        body: Option<String>,
    ) -> Result<ResultPage, WarehouseError> {
        let unreachable = |e: worker::Error| WarehouseError::Unreachable(format!("{url}: {e}"));
        let headers = Headers::new();
        headers
            .set("Accept", "application/json")
            .map_err(unreachable)?;
        if body.is_some() {
            headers
                .set("Content-Type", "application/json")
                .map_err(unreachable)?;
        }
        if let Some(auth) = &self.authorization {
            headers.set("Authorization", auth).map_err(unreachable)?;
        }
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers);
        if let Some(body) = body {
            init.with_body(Some(body.into()));
        }
        let request = Request::new_with_init(url, &init).map_err(unreachable)?;
        let mut response = Fetch::Request(request).send().await.map_err(unreachable)?;
        let status = response.status_code();
        let text = response
            .text()
            .await
            .map_err(|e| WarehouseError::Malformed(format!("unreadable response body: {e}")))?;
        parse_response(call, status, &text)
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
            super::wire::encode(&job.job_id),
            results_query_string(job, page_token, max_rows)
        );
        let url = self.url(&job.project_id, &tail);
        self.send(Call::Results, Method::Get, &url, None).await
    }
}
