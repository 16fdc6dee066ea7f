//! The BigQuery adapter: jobs.query and jobs.getQueryResults over REST, and
//! BigQuery's wire format (f/v rows typed by the result schema) decoded into
//! the engine's source rows. All of it builds and is tested on the host; it
//! reaches the network and the clock only through `crate::runtime`.

pub(crate) mod client;
pub(crate) mod credentials;
pub(crate) mod endpoint;
pub(crate) mod job_statistics;
pub(crate) mod json;
mod page;
pub(crate) mod pushed_row;
pub(crate) mod retry;
pub(crate) mod row;
#[cfg(any(test, feature = "testing"))]
pub mod test_keys;
pub(crate) mod typing;
pub mod wire;
