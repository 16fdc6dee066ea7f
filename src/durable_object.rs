//! The `SyncCoordinator` Durable Object class: it builds the core's
//! `Coordinator` over this object's storage, the Worker's env and the
//! Workers runtime, and forwards `fetch` and `alarm` to it.

use kv_sync_core::coordinator::policy::reply::Reply;
use kv_sync_core::coordinator::{Coordinator, Request as Forwarded, SYNC_HEADER};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::platform::durable_sql::DurableSql;
use crate::platform::worker_env::WorkerEnv;
use crate::platform::worker_runtime::WorkerRuntime;

#[durable_object]
pub struct SyncCoordinator {
    core: Coordinator<DurableSql, WorkerRuntime, WorkerEnv>,
}

/// A storage failure inside a request or an alarm: the runtime reports it
/// (the alarm is retried; a request answers 500).
fn failed(e: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

fn json_response(reply: Reply) -> Result<Response> {
    let headers = worker::Headers::new();
    headers.set("Content-Type", "application/json")?;
    Ok(Response::ok(reply.body)?
        .with_status(reply.status)
        .with_headers(headers))
}

impl DurableObject for SyncCoordinator {
    fn new(state: State, env: Env) -> Self {
        // workers-rs binds `ctx.storage.sql` but not `transactionSync`: the
        // raw storage object is kept for it.
        let raw = state._inner();
        let transactional = raw
            .storage()
            .map(wasm_bindgen::JsValue::from)
            .unwrap_or_default();
        let state = State::from(raw);
        let storage = DurableSql::new(state.storage(), transactional);
        SyncCoordinator {
            core: Coordinator::new(storage, WorkerRuntime, WorkerEnv(env)),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        // Only `/push` is forwarded with a body.
        let body = req.text().await?;
        let request = Forwarded {
            path: url.path().to_string(),
            query: url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            sync: req.headers().get(SYNC_HEADER)?,
            authorization: req.headers().get("Authorization")?,
            body,
        };
        json_response(self.core.fetch(request).await.map_err(failed)?)
    }

    async fn alarm(&self) -> Result<Response> {
        self.core.alarm().await.map_err(failed)?;
        Response::ok("")
    }
}
