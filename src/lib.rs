//! kv-sync: keeps Cloudflare Workers KV in step with Google BigQuery.
//!
//! - `engine`: the sync itself, plain Rust behind small traits; runs and is
//!   tested on the host.
//! - `bigquery`, `kv`: adapters to BigQuery's REST API and to Workers KV.
//! - `coordinator`: the Durable Object that owns the cursor, the run lease
//!   and the alarm, and drives the engine.
//! - `http`: the Worker's routes, bearer auth and the dashboard page.
//! - `outbound`: the one `fetch` the BigQuery and KV bulk adapters share.

pub mod bigquery;
#[cfg(target_arch = "wasm32")]
pub mod coordinator;
pub mod engine;
pub mod http;
pub mod kv;
#[cfg(target_arch = "wasm32")]
pub mod outbound;
