//! The sync engine: plain Rust, no Workers types, no warehouse wire format;
//! tested on the host.
//!
//! It reads the source through `Warehouse`, writes through `KvSink`, keeps
//! its progress in a `StateStore` and tells time with a `Clock` (see
//! `ports`). The coordinator (`crate::coordinator`, following the decisions
//! of `crate::coordinator::policy`) drives it one invocation at a time.

pub(crate) mod acknowledge;
pub mod cursor;
pub mod error;
pub mod excerpt;
pub mod key_walk;
pub mod kv_path;
pub mod limits;
pub(crate) mod plan;
pub mod ports;
pub mod precedence;
pub mod progress;
pub(crate) mod read_ahead;
pub mod record;
pub(crate) mod recording;
pub mod run;
pub mod source_query;
pub mod spend;
pub mod time;
