//! Workers KV writers behind the engine's `KvSink`: the binding (one
//! operation per key, bounded concurrency) and the bulk REST API (up to
//! 10,000 pairs a request). `bulk_wire` is plain Rust, tested on the host.

#[cfg(target_arch = "wasm32")]
pub mod binding;
#[cfg(target_arch = "wasm32")]
pub mod bulk;
pub mod bulk_wire;
