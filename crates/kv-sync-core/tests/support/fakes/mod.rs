//! The fakes: a warehouse that evaluates the wrapped query's window and order
//! over an in-memory table and hands the engine decoded rows, a KV
//! namespace, and a clock. (The state store is the real one, over SQLite:
//! see `sqlite`.) Each can be told to fail, including the nasty cases: a
//! write that landed but whose answer was lost, and a job created but never
//! reported.

pub mod connection;
pub mod kv;
pub mod warehouse;

use std::cell::Cell;
use std::rc::Rc;

use super::rng::Rng;

/// Faults: each call fails with probability `p`, or exactly the call that
/// is step number `crash_at` of a step counter shared by all the fakes.
pub struct Faults {
    pub rng: Rng,
    pub p: f64,
    pub injected: u64,
    pub steps: Rc<Cell<u64>>,
    pub crash_at: Option<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rng: Rng::new(0),
            p: 0.0,
            injected: 0,
            steps: Rc::default(),
            crash_at: None,
        }
    }
}

impl Faults {
    pub fn new(seed: u64, p: f64) -> Self {
        Faults {
            rng: Rng::new(seed),
            p,
            ..Faults::default()
        }
    }

    /// Crash exactly at step `at` of the shared counter `steps`.
    pub fn at_step(steps: Rc<Cell<u64>>, at: u64, seed: u64) -> Self {
        Faults {
            rng: Rng::new(seed),
            steps,
            crash_at: Some(at),
            ..Faults::default()
        }
    }

    /// Whether this call fails: counts a step of the shared counter.
    pub fn strikes(&mut self) -> bool {
        let step = self.steps.get();
        self.steps.set(step + 1);
        let hit = self.crash_at == Some(step) || (self.p > 0.0 && self.rng.chance(self.p));
        self.injected += hit as u64;
        hit
    }

    fn pick(&mut self, n: u64) -> u64 {
        self.rng.range(0, n - 1)
    }
}
