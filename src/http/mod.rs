//! The Worker's public routes. Auth and request checks happen here, at the
//! edge; the coordinator only ever sees requests that passed them.

pub mod auth;
#[cfg(target_arch = "wasm32")]
pub mod routes;
