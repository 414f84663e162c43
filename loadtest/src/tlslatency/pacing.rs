//! Open-loop slots: connection k is due at `start + k / rate`, whoever
//! takes it and whenever the previous ones end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Pacing {
    start: Instant,
    interval: Duration,
    slots: u64,
    next: AtomicU64,
}

impl Pacing {
    /// `rate` slots per second for `seconds`, the first a little after now
    /// so every thread is waiting when it comes.
    pub fn new(rate: f64, seconds: f64) -> Pacing {
        Pacing {
            start: Instant::now() + Duration::from_millis(50),
            interval: Duration::from_secs_f64(1.0 / rate),
            slots: (rate * seconds).round().max(1.0) as u64,
            next: AtomicU64::new(0),
        }
    }

    /// Claims the next slot and sleeps until it is due; `None` when all
    /// have been taken. Returns the slot's time, not the time it woke.
    pub fn next_slot(&self) -> Option<Instant> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        if k >= self.slots {
            return None;
        }
        let due = self.start + self.interval.mul_f64(k as f64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        Some(due)
    }

    /// Seconds from the first slot to now (call once the threads are done).
    pub fn elapsed_secs(&self) -> f64 {
        Instant::now()
            .saturating_duration_since(self.start)
            .as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_spaced_by_the_rate_and_run_out() {
        let pacing = Pacing::new(1000.0, 0.005);
        let slots: Vec<Instant> = std::iter::from_fn(|| pacing.next_slot()).collect();
        assert_eq!(slots.len(), 5);
        for pair in slots.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::from_millis(1));
        }
        assert!(pacing.next_slot().is_none());
    }
}
