//! Requests waiting on an upstream for a response head, and how many of
//! them are long-polls: waiting for longer than [`LONG_POLL_SECS`].
//!
//! Telling a long wait from a short one without a timer per request: waits
//! are counted in buckets by the whole second they started in. Two buckets
//! (this second and the one before) hold the young waits; when a bucket is
//! reused for a new second, the waits still in it move to `older`. So
//! starting and ending a wait is a few cell updates, and the count of long
//! waits is exact up to the rounding to whole seconds: every wait older
//! than 2 s is counted, and none younger than 1 s is.

use std::cell::Cell;

/// The documented threshold (see the rounding above).
pub const LONG_POLL_SECS: u64 = 1;

#[derive(Default)]
struct Bucket {
    second: Cell<u64>,
    waiting: Cell<u64>,
}

#[derive(Default)]
pub struct Waiting {
    buckets: [Bucket; 2],
    /// Waits that started before both buckets' seconds.
    older: Cell<u64>,
}

impl Waiting {
    /// A wait starts at `second` (seconds since the worker started).
    pub fn start(&self, second: u64) {
        let bucket = self.bucket(second);
        if bucket.second.get() != second {
            self.older.set(self.older.get() + bucket.waiting.get());
            bucket.second.set(second);
            bucket.waiting.set(0);
        }
        bucket.waiting.set(bucket.waiting.get() + 1);
    }

    /// The wait that started at `second` ended.
    pub fn end(&self, second: u64) {
        let bucket = self.bucket(second);
        let counter = if bucket.second.get() == second {
            &bucket.waiting
        } else {
            &self.older
        };
        counter.set(counter.get().saturating_sub(1));
    }

    /// `(all waits, long ones)` as of `now` (seconds since the worker started).
    pub fn counts(&self, now: u64) -> (u64, u64) {
        let mut all = self.older.get();
        let mut long = self.older.get();
        for bucket in &self.buckets {
            all += bucket.waiting.get();
            if bucket.second.get() + LONG_POLL_SECS < now {
                long += bucket.waiting.get();
            }
        }
        (all, long)
    }

    fn bucket(&self, second: u64) -> &Bucket {
        &self.buckets[(second % 2) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_becomes_long_after_the_threshold() {
        let waiting = Waiting::default();
        waiting.start(10);
        assert_eq!(waiting.counts(10), (1, 0));
        assert_eq!(waiting.counts(11), (1, 0));
        assert_eq!(waiting.counts(12), (1, 1));
        waiting.end(10);
        assert_eq!(waiting.counts(12), (0, 0));
    }

    #[test]
    fn waits_survive_their_bucket_being_reused() {
        let waiting = Waiting::default();
        waiting.start(10);
        waiting.start(12);
        // Second 12 reused second 10's bucket: the old wait moved to `older`.
        assert_eq!(waiting.counts(12), (2, 1));
        waiting.end(10);
        assert_eq!(waiting.counts(12), (1, 0));
        waiting.end(12);
        assert_eq!(waiting.counts(40), (0, 0));
    }

    #[test]
    fn short_waits_are_never_long() {
        let waiting = Waiting::default();
        for second in 0..100 {
            waiting.start(second);
            waiting.end(second);
        }
        assert_eq!(waiting.counts(100), (0, 0));
    }
}
