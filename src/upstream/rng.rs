//! A per-worker xorshift64* generator for `random_two`: no crate, no
//! shared state, good enough to spread load (not for anything secret).

use std::cell::Cell;

pub struct Rng(Cell<u64>);

impl Rng {
    /// Different per worker and per process start; never zero.
    pub fn seeded(worker: usize) -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let seed = super::hash::mix(u64::from(nanos) ^ ((worker as u64) << 32));
        Rng(Cell::new(seed | 1))
    }

    pub fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..bound` (bound > 0), by multiply-shift.
    pub fn below(&self, bound: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(bound)) >> 64) as u64
    }
}
