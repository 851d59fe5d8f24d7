//! The clocks and random sources of a store with a tape: WASI's own, read through the tape
//! so a transcript holds every reading and a replay gets them back.

use std::convert::Infallible;
use std::time::Duration;

use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use super::tape::{Source, Tape};

/// Gives `builder` the tape's clocks and random sources.
pub fn install(builder: &mut WasiCtxBuilder, tape: &Tape) {
    builder
        .wall_clock(WallClock(tape.clone()))
        .monotonic_clock(MonotonicClock(tape.clone()))
        .secure_random(Random(tape.clone(), Source::Secure))
        .insecure_random(Random(tape.clone(), Source::Insecure))
        .insecure_random_seed(tape.insecure_seed());
}

/// `wasi:clocks/wall-clock` through a tape.
struct WallClock(Tape);

impl HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0.wall_now()
    }
}

/// `wasi:clocks/monotonic-clock` through a tape.
struct MonotonicClock(Tape);

impl HostMonotonicClock for MonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.monotonic_now()
    }
}

/// `wasi:random/random` or `wasi:random/insecure` through a tape.
struct Random(Tape, Source);

impl rand_core::TryRng for Random {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0; 4];
        self.0.fill(self.1, &mut bytes);
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0; 8];
        self.0.fill(self.1, &mut bytes);
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill(self.1, dest);
        Ok(())
    }
}
