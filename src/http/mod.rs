//! The Worker's public routes. Auth, request checks and response headers
//! happen here, at the edge; the coordinator only ever sees requests that
//! passed them.

pub mod auth;
pub mod headers;
#[cfg(target_arch = "wasm32")]
pub mod routes;
