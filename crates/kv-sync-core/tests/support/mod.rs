//! Host test support: the real coordinator over SQLite and the scripted
//! runtime, with either the services it talks to over HTTP as doubles
//! (`deployment`, `services`) or the engine's fakes as its connection
//! (`world`, `fakes`).
#![allow(dead_code)]

pub mod deployment;
pub mod fakes;
pub mod memory_kv;
pub mod platform;
pub mod pubsub;
pub mod rng;
pub mod services;
pub mod sqlite;
pub mod world;

/// Runs a future to completion on the current thread. The coordinator's
/// futures only await the fakes and doubles, which are always ready, so no
/// reactor is needed.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}
