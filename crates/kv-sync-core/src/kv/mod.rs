//! Workers KV writers behind the engine's `KvSink`: a binding (one
//! operation per key, bounded concurrency), the bulk REST API (up to 10,000
//! pairs a request), and the sink that holds both and takes the path each
//! run chooses.

pub(crate) mod binding;
pub(crate) mod binding_errors;
pub(crate) mod bulk;
pub(crate) mod bulk_wire;
pub(crate) mod path_sink;
