//! Where a static site's names go when the kernel's caches don't hold
//! them: looked up on the worker, or handed to the file threads.
//!
//! A hand-off costs a thread's wake-up and the request's second round
//! (twice the CPU of a 404 for a made-up name, `static-404` in
//! bench/README.md), while on a local disk most such lookups are served
//! from directory blocks in memory in microseconds, as nginx's worker does
//! them. So a worker looks a name up itself, timed, unless the root is on
//! or holds a network or FUSE filesystem (`mounts.rs`: a lookup there can
//! wait without bound), or a lookup on the worker slept (waited for the
//! disk, not merely interrupted by the scheduler) and took longer than
//! `SLOW_LOOKUP` lately (the disk is cold or busy): then every miss is
//! handed off for a while — a second after one such lookup, twice as long
//! after each that follows the hand-off (up to `LONGEST_HAND_OFF`), so a
//! disk that stays slow blocks a worker once a minute, a passing stall
//! (memory reclaim under a flood of new names) costs a second of hops.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// A lookup on the worker that took longer than this was not served from
/// memory.
pub const SLOW_LOOKUP: Duration = Duration::from_micros(200);
/// How long misses are handed off after a slow lookup that followed a quick
/// one; each slow lookup right after a hand-off doubles it.
const FIRST_HAND_OFF: Duration = Duration::from_secs(1);
const LONGEST_HAND_OFF: Duration = Duration::from_secs(64);

#[derive(Debug)]
pub struct Lookups {
    born: Instant,
    /// Until when (ms after `born`) misses are handed off.
    hand_off_until_ms: AtomicU64,
    /// The last hand-off's length (ms); 0 once a lookup was quick again.
    hand_off_ms: AtomicU64,
}

impl Default for Lookups {
    fn default() -> Lookups {
        Lookups {
            born: Instant::now(),
            hand_off_until_ms: AtomicU64::new(0),
            hand_off_ms: AtomicU64::new(0),
        }
    }
}

impl Lookups {
    /// Whether a miss goes to the file threads now (`remote`: the root
    /// is on or holds a network or FUSE filesystem).
    pub fn hand_off(&self, remote: bool) -> bool {
        remote || self.now_ms() < self.hand_off_until_ms.load(Relaxed)
    }

    /// Notes how long a lookup on the worker took, and whether it slept: a
    /// slow one that waited hands the next misses off.
    pub fn took(&self, took: Duration, slept: bool) {
        if !(slept && took > SLOW_LOOKUP) {
            if self.hand_off_ms.load(Relaxed) != 0 {
                self.hand_off_ms.store(0, Relaxed);
            }
            return;
        }
        let first = FIRST_HAND_OFF.as_millis() as u64;
        let longest = LONGEST_HAND_OFF.as_millis() as u64;
        let length = (self.hand_off_ms.load(Relaxed) * 2).clamp(first, longest);
        self.hand_off_ms.store(length, Relaxed);
        self.hand_off_until_ms
            .fetch_max(self.now_ms() + length, Relaxed);
    }

    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_lookup_hands_misses_off_for_a_while() {
        let lookups = Lookups::default();
        assert!(!lookups.hand_off(false));
        assert!(lookups.hand_off(true), "a network root always hands off");
        lookups.took(Duration::from_micros(20), true);
        assert!(
            !lookups.hand_off(false),
            "a lookup from memory changes nothing"
        );
        lookups.took(Duration::from_millis(3), false);
        assert!(!lookups.hand_off(false), "an interrupted lookup neither");
        lookups.took(Duration::from_millis(3), true);
        assert!(lookups.hand_off(false));
    }

    #[test]
    fn each_slow_lookup_after_a_hand_off_doubles_it_and_a_quick_one_resets_it() {
        let lookups = Lookups::default();
        let slow = Duration::from_millis(3);
        lookups.took(slow, true);
        assert_eq!(lookups.hand_off_ms.load(Relaxed), 1_000);
        lookups.took(slow, true);
        lookups.took(slow, true);
        assert_eq!(lookups.hand_off_ms.load(Relaxed), 4_000);
        for _ in 0..10 {
            lookups.took(slow, true);
        }
        assert_eq!(lookups.hand_off_ms.load(Relaxed), 64_000, "capped");
        lookups.took(Duration::from_micros(20), false);
        assert_eq!(lookups.hand_off_ms.load(Relaxed), 0);
    }

    #[test]
    fn the_hand_off_ends_after_its_time() {
        let lookups = Lookups {
            born: Instant::now() - Duration::from_secs(2),
            hand_off_until_ms: AtomicU64::new(1_000),
            hand_off_ms: AtomicU64::new(1_000),
        };
        assert!(!lookups.hand_off(false));
    }
}
