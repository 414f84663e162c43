//! Randomness for WebSocket keys and masks. It need not be strong, only
//! unpredictable to intermediaries; std's RandomState is seeded from the
//! OS and saves a dependency.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

pub fn random_u64() -> u64 {
    RandomState::new().build_hasher().finish()
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let r = random_u64().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    out
}
