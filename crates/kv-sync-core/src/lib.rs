//! kv-sync's core: everything that decides or sequences, with no Workers
//! types, built and tested on the host.
//!
//! - `engine`: one sync run (paging, planning, checkpoints, change
//!   detection, reconciliation), behind small ports.
//! - `coordinator`: the per-sync object that owns the cursor, the run
//!   lease and the alarm, generic over its ports; `coordinator::policy`
//!   holds its decisions as plain functions.
//! - `store`: the coordinator's SQLite schema and queries over a `Sql` seam.
//! - `bigquery`, `kv`: BigQuery's REST client and wire format; the KV
//!   binding sink and the bulk REST API's wire format.
//! - `settings`: every var, its default and its parser.
//! - `push`: `POST /push`, rows Pub/Sub delivers (OIDC, envelope, verdict).
//! - `edge`: the public routes' decisions (auth, routing, headers).
//! - `runtime`: the seam to the platform (time, logs, fetch, crypto).
//!
//! The Workers shell (the root package) implements the ports over Durable
//! Object storage, the KV binding, `fetch` and WebCrypto, and forwards to
//! `coordinator::Coordinator`.

#![warn(unreachable_pub)]

pub mod bigquery;
pub mod coordinator;
pub mod edge;
pub mod engine;
pub mod kv;
pub mod push;
pub mod runtime;
pub mod settings;
pub mod store;
