//! The sync engine: plain Rust, no Workers types, tested on the host.
//!
//! It reads the source through `Warehouse`, writes through `KvSink`, keeps
//! its progress in a `StateStore` and tells time with a `Clock` (see
//! `ports`). The Durable Object in `crate::coordinator` drives it.

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod cursor;
pub mod error;
pub mod json;
pub mod lease;
pub mod limits;
pub mod ports;
pub mod read_ahead;
pub mod record;
pub mod row;
pub mod run;
pub mod schedule;
pub mod source_query;
pub mod status;
pub mod time;
pub mod typing;
