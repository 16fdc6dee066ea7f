//! BigQuery's REST API: jobs.query and jobs.getQueryResults.
//!
//! `wire` (request bodies, response parsing, error classes) is plain Rust
//! and tested on the host; `client` sends it over the Workers `fetch`.

#[cfg(target_arch = "wasm32")]
pub mod client;
pub mod credentials;
mod page;
#[cfg(target_arch = "wasm32")]
pub mod signer;
pub mod wire;
