//! `POST /push`: rows Pub/Sub delivers from a BigQuery continuous query,
//! written to KV within seconds of their change.
//!
//! - `id_token`: the Google-signed OIDC token each delivery carries, and
//!   its claims; `key_set`: Google's signing keys, cached.
//! - `envelope`: Pub/Sub's wrapped push format.
//! - `verdict`: what a pushed row does to its key (newest wins, one write a
//!   second), and the counters `/status` shows.
//!
//! The row itself is typed by `bigquery::pushed_row`, checked by
//! `engine::record::check` like a pulled one, and written by the
//! coordinator (`coordinator::push`). Pushes never move the pull's cursor:
//! the pull stays the safety net.

pub mod envelope;
pub mod id_token;
pub mod key_set;
pub mod verdict;
