//! Workers KV writers behind the engine's `KvSink`.

pub mod binding;
