//! Workers KV writers behind the engine's `KvSink`: the binding (one
//! operation per key, bounded concurrency) and the bulk REST API (up to
//! 10,000 pairs a request). Only the binding needs the Workers runtime.

#[cfg(target_arch = "wasm32")]
pub mod binding;
pub mod binding_errors;
pub mod bulk;
pub mod bulk_wire;
