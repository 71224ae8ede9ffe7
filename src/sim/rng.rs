//! Random draws from the one seeded source. Every choice in a simulation comes from here, in
//! an order fixed by the event sequence, which is what makes a run reproducible from its seed.

use rand::{RngExt as _, SeedableRng as _};

use super::Tick;
use super::scenario::Span;

/// The simulator's generator: a named algorithm (xoshiro256++), so a seed replays the same
/// run across platforms and rand releases, and fast, because every event draws from it.
pub(crate) type SimRng = rand::rngs::Xoshiro256PlusPlus;

/// A generator for one purpose, derived from the master in a fixed order.
pub(crate) fn derive(master: &mut SimRng) -> SimRng {
    SimRng::seed_from_u64(master.random::<u64>())
}

/// A duration drawn uniformly from `span`, in ticks (microseconds).
pub(crate) fn draw(rng: &mut SimRng, span: Span) -> Tick {
    let lo = span.lo.as_micros() as Tick;
    let hi = span.hi.as_micros() as Tick;
    if lo >= hi {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

/// A count drawn uniformly from `lo..=hi`.
pub(crate) fn draw_count(rng: &mut SimRng, lo: u32, hi: u32) -> u32 {
    if lo >= hi {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

/// The time to the next event of a Poisson process with `rate` per second, in ticks (at
/// least one, so a huge rate cannot stall the clock).
pub(crate) fn exponential(rng: &mut SimRng, rate: f64) -> Tick {
    let u: f64 = rng.random::<f64>();
    let secs = -(1.0 - u).ln() / rate;
    ((secs * 1e6) as Tick).max(1)
}
