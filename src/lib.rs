//! kv-sync's Workers shell: the `SyncCoordinator` Durable Object class and
//! the Worker's routes, over the core (`kv_sync_core`), which holds every
//! decision and every sequence. Only this crate names Workers types.
//!
//! - `durable_object`: the class, forwarding `fetch` and `alarm` to the core.
//! - `routes`: the public routes' HTTP glue and the cron trigger.
//! - `platform`: the core's ports over Durable Object storage, the Worker's
//!   env and KV bindings, `fetch` and WebCrypto.
#![cfg(target_arch = "wasm32")]

mod durable_object;
mod platform;
mod routes;
