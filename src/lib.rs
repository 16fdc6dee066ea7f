//! kv-sync: keeps Cloudflare Workers KV in step with Google BigQuery.
//!
//! Dependencies point one way: `http` → `coordinator` → adapters (`store`,
//! `bigquery`, `kv`, `runtime`) → core (`coordination`, `engine`). Nothing
//! points up.
//!
//! - `engine`: one sync run, plain Rust behind small traits.
//! - `coordination`: the coordinator's decisions, as plain functions.
//! - `store`: the coordinator's SQLite schema and queries over a `Sql` seam.
//! - `bigquery`, `kv`: adapters to BigQuery's REST API and to Workers KV.
//! - `runtime`: the seam to the platform (time, logs, sleep, fetch, crypto).
//! - `coordinator`: the Durable Object, glue that carries out the decisions.
//! - `http`: the Worker's routes, bearer auth and the dashboard page.
//!
//! Only `coordinator`, `http::routes` and a few adapter files need the
//! Workers runtime; everything else builds and is tested on the host.

pub mod bigquery;
pub mod coordination;
#[cfg(target_arch = "wasm32")]
pub mod coordinator;
pub mod engine;
pub mod http;
pub mod kv;
pub mod runtime;
pub mod store;
