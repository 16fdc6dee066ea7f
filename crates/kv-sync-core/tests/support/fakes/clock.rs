//! A clock the tests move.

use std::cell::Cell;

use kv_sync_core::engine::ports::Clock;
use kv_sync_core::engine::time::Micros;

/// A clock that moves `tick` forward every time it is read, so invocation
/// budgets run out in tests as they would in real time.
pub struct FakeClock {
    now: Cell<Micros>,
    pub tick: Cell<Micros>,
}

impl FakeClock {
    pub fn new(start: Micros) -> Self {
        FakeClock {
            now: Cell::new(start),
            tick: Cell::new(0),
        }
    }

    pub fn advance(&self, by: Micros) {
        self.now.set(self.now.get() + by);
    }

    pub fn now_micros(&self) -> Micros {
        self.now.get()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Micros {
        let now = self.now.get();
        self.now.set(now + self.tick.get());
        now
    }
}
