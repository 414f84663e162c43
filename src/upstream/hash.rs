//! Hashing for `source_hash` and `uri_hash`: rendezvous (highest random
//! weight) hashing. Every server gets a score per key and the highest live
//! one wins. Chosen over a ring and jump hashing because it needs no table
//! (backends are small, a pick is one pass over the servers), honours
//! weights, skips down servers without remapping other keys, and adding a
//! server moves only the keys it now wins: about 1/n of them. Scores depend
//! on the server's address, not its position, so two tern nodes with the
//! same config agree.

/// FNV-1a, 64 bit: fast, no state, stable across processes and builds.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// splitmix64's finaliser: spreads the bits of a combined key.
pub fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Weighted rendezvous score (Schindelhauer & Schomaker): `weight / -ln(u)`
/// with `u` uniform in (0, 1) from the key and the server's own hash.
pub fn score(key: u64, server_hash: u64, weight: u32) -> f64 {
    let bits = mix(key ^ server_hash) >> 11;
    // (bits + 0.5) / 2^53 is never 0 or 1, so the logarithm is finite and negative.
    let unit = (bits as f64 + 0.5) / (1u64 << 53) as f64;
    f64::from(weight) / -unit.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn scores_are_positive_and_grow_with_weight() {
        for key in 0..1000u64 {
            let light = score(key, 7, 1);
            let heavy = score(key, 7, 3);
            assert!(light > 0.0 && light.is_finite());
            assert!(heavy > light);
        }
    }
}
