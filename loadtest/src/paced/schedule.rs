//! When each request is due: request g of the run at `start + g / rate`,
//! dealt round-robin to the connections (connection i sends requests
//! i, i + C, i + 2C, ...), so each connection runs at rate / C and the
//! connections take turns rather than firing together.

use std::time::{Duration, Instant};

pub struct Schedule {
    pub start: Instant,
    interval: Duration,
    slots: u64,
    connections: u64,
}

impl Schedule {
    pub fn new(start: Instant, rate: f64, seconds: f64, connections: usize) -> Schedule {
        Schedule {
            start,
            interval: Duration::from_secs_f64(1.0 / rate),
            slots: (rate * seconds).round().max(1.0) as u64,
            connections: connections as u64,
        }
    }

    /// Requests in the whole run.
    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// When connection `conn`'s `k`-th request is due; `None` past the run.
    pub fn due(&self, conn: usize, k: u64) -> Option<Instant> {
        let g = k.checked_mul(self.connections)?.checked_add(conn as u64)?;
        (g < self.slots).then(|| self.start + self.interval.mul_f64(g as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_take_turns_at_the_rate_and_the_slots_run_out() {
        let start = Instant::now();
        let s = Schedule::new(start, 1000.0, 0.01, 3);
        assert_eq!(s.slots(), 10);
        let ms = |n: u64| start + Duration::from_millis(n);
        assert_eq!(s.due(0, 0), Some(ms(0)));
        assert_eq!(s.due(1, 0), Some(ms(1)));
        assert_eq!(s.due(2, 0), Some(ms(2)));
        assert_eq!(s.due(0, 1), Some(ms(3)));
        assert_eq!(s.due(0, 3), Some(ms(9)));
        assert_eq!(s.due(1, 3), None);
        let all: usize = (0..3)
            .map(|c| (0..).take_while(|&k| s.due(c, k).is_some()).count())
            .sum();
        assert_eq!(all, 10);
    }
}
