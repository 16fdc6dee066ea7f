//! The core's ports over the Workers platform: Durable Object storage
//! (SQL and the alarm), the Worker's env (vars, secrets, KV bindings), and
//! the runtime (`fetch`, timers, WebCrypto).

pub mod durable_sql;
mod webcrypto;
pub mod worker_env;
pub mod worker_runtime;
