//! Requests per second for the status page and JSON, from the difference
//! between two scrapes at least `MIN_INTERVAL` apart. (Prometheus computes
//! its own rates from the counters; this is for people.)

use std::time::{Duration, Instant};

const MIN_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Rates {
    last: Option<(Instant, Vec<u64>)>,
    per_second: Vec<f64>,
}

impl Rates {
    /// Takes the latest totals (one per item, e.g. per backend, the last
    /// being the sum) and returns the rates per item.
    pub fn update(&mut self, now: Instant, totals: &[u64]) -> &[f64] {
        match &self.last {
            Some((then, previous)) if previous.len() == totals.len() => {
                let elapsed = now.saturating_duration_since(*then);
                if elapsed >= MIN_INTERVAL {
                    let secs = elapsed.as_secs_f64();
                    self.per_second = totals
                        .iter()
                        .zip(previous)
                        .map(|(now, then)| now.saturating_sub(*then) as f64 / secs)
                        .collect();
                    self.last = Some((now, totals.to_vec()));
                }
            }
            _ => {
                self.per_second = vec![0.0; totals.len()];
                self.last = Some((now, totals.to_vec()));
            }
        }
        &self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_differences_over_time() {
        let mut rates = Rates::default();
        let start = Instant::now();
        assert_eq!(rates.update(start, &[10, 20]), &[0.0, 0.0]);
        // Too soon: the previous rates stand.
        assert_eq!(
            rates.update(start + Duration::from_millis(10), &[99, 99]),
            &[0.0, 0.0]
        );
        let later = rates.update(start + Duration::from_secs(2), &[30, 20]);
        assert_eq!(later, &[10.0, 0.0]);
    }
}
