//! The BigQuery adapter: jobs.query and jobs.getQueryResults over REST, and
//! BigQuery's wire format (f/v rows typed by the result schema) decoded into
//! the engine's source rows. All of it builds and is tested on the host; it
//! reaches the network and the clock only through `crate::runtime`.

pub mod client;
pub mod credentials;
pub mod endpoint;
pub mod json;
mod page;
pub mod retry;
pub mod row;
#[cfg(any(test, feature = "testing"))]
pub mod test_keys;
pub mod typing;
pub mod wire;
