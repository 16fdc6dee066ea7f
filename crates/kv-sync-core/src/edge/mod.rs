//! The Worker's public routes, as decisions: which route a path is and
//! which methods it takes, who may call it, which sync it is for, and the
//! headers every response carries. The Workers shell does the HTTP; the
//! coordinator only ever sees requests that passed these checks.

pub mod auth;
pub mod headers;
pub mod route;
