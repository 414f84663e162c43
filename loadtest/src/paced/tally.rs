//! What one thread's connections saw, merged into the run's report.

use crate::report::latency_histogram;
use crate::tally::Errors;
use hdrhistogram::Histogram;
use std::time::{Duration, Instant};

/// One request's moments.
pub struct Times {
    /// Its slot in the schedule.
    pub due: Instant,
    /// When the connection could send it: the slot, or the previous answer
    /// if that came after the slot.
    pub ready: Instant,
    pub sent: Instant,
    pub answered: Instant,
}

pub struct Tally {
    /// From the request's slot to the end of its answer, less the client's
    /// own lag, µs: what a user arriving at the slot would wait, the queue a
    /// slow server built included (no coordinated omission).
    pub latency: Histogram<u64>,
    /// From sending the request to the end of its answer, µs: the server's
    /// time for this request alone (what wrk reports).
    pub service: Histogram<u64>,
    /// From `ready` to `sent`, µs: the client's own delay (its timer ticks
    /// every millisecond), kept out of `latency` and shown apart.
    pub client_lag: Histogram<u64>,
    pub errors: Errors,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally {
            latency: latency_histogram(),
            service: latency_histogram(),
            client_lag: latency_histogram(),
            errors: Errors::default(),
        }
    }
}

impl Tally {
    pub fn record(&mut self, t: &Times) {
        let us = |d: Duration| (d.as_micros() as u64).max(1);
        let lag = t.sent.saturating_duration_since(t.ready);
        let from_slot = t.answered.saturating_duration_since(t.due);
        // Values beyond the histogram's hour are a broken run; saturate.
        self.latency
            .saturating_record(us(from_slot.saturating_sub(lag)));
        self.service
            .saturating_record(us(t.answered.saturating_duration_since(t.sent)));
        self.client_lag.saturating_record(us(lag));
    }

    pub fn merge(&mut self, other: &Tally) -> Result<(), String> {
        let add = |mine: &mut Histogram<u64>, theirs: &Histogram<u64>| {
            mine.add(theirs)
                .map_err(|e| format!("merging histograms: {e}"))
        };
        add(&mut self.latency, &other.latency)?;
        add(&mut self.service, &other.service)?;
        add(&mut self.client_lag, &other.client_lag)?;
        for (kind, n) in other.errors.entries() {
            self.errors.add_n(&kind, n);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_late_answer_before_the_slot_is_charged_to_the_next_request() {
        let due = Instant::now();
        let mut t = Tally::default();
        // The previous answer came 5 ms after this slot; sent 1 ms after it.
        t.record(&Times {
            due,
            ready: due + ms(5),
            sent: due + ms(6),
            answered: due + ms(8),
        });
        assert_eq!(
            t.latency.max() / 1000,
            7,
            "slot to answer, less 1 ms of lag"
        );
        assert_eq!(t.service.max() / 1000, 2);
        assert_eq!(t.client_lag.max() / 1000, 1);
    }

    #[test]
    fn the_clients_own_lag_is_not_the_servers() {
        let due = Instant::now();
        let mut t = Tally::default();
        t.record(&Times {
            due,
            ready: due,
            sent: due + ms(1),
            answered: due + ms(3),
        });
        assert_eq!(t.latency.max() / 1000, 2);
        assert_eq!(t.service.max() / 1000, 2);
    }
}
