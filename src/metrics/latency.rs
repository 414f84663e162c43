//! Latency histograms of one backend on one worker, in microseconds: the
//! total time of a request and the time its upstream took. hdrhistogram
//! with 2 significant digits (1% error) from 1 µs to an hour: about 26 KiB
//! each, recorded without allocating; the admin thread merges the workers'
//! copies when it is scraped.

use std::cell::{Cell, RefCell};

use hdrhistogram::Histogram;

/// Anything slower is recorded as an hour.
const HIGHEST_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 2;

// Constant bounds, valid for hdrhistogram (a unit test builds one): no
// outside input reaches this expect.
#[allow(clippy::expect_used)]
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS)
        .expect("constant histogram bounds are valid")
}

/// One kind of latency: the histogram and the exact sum (which the
/// histogram only knows to 1%).
pub struct Latency {
    histogram: RefCell<Histogram<u64>>,
    sum_us: Cell<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            histogram: RefCell::new(new_histogram()),
            sum_us: Cell::new(0),
        }
    }
}

impl Latency {
    pub fn record(&self, micros: u64) {
        let micros = micros.min(HIGHEST_US);
        if let Ok(mut histogram) = self.histogram.try_borrow_mut() {
            histogram.saturating_record(micros);
            self.sum_us.set(self.sum_us.get() + micros);
        }
    }

    pub fn copy(&self) -> LatencyCopy {
        LatencyCopy {
            histogram: self.histogram.borrow().clone(),
            sum_us: self.sum_us.get(),
        }
    }

    /// A copy, leaving this one empty (a reload carrying samples over).
    pub fn take(&self) -> LatencyCopy {
        let copy = self.copy();
        self.histogram.borrow_mut().reset();
        self.sum_us.set(0);
        copy
    }

    /// Adds the samples of `other`.
    pub fn absorb(&self, other: &LatencyCopy) {
        if let Ok(mut histogram) = self.histogram.try_borrow_mut() {
            // Same bounds everywhere, so adding cannot fail.
            let _ = histogram.add(&other.histogram);
            self.sum_us.set(self.sum_us.get() + other.sum_us);
        }
    }
}

/// A copy that can cross to the admin thread and be merged with others.
#[derive(Clone)]
pub struct LatencyCopy {
    pub histogram: Histogram<u64>,
    pub sum_us: u64,
}

impl Default for LatencyCopy {
    fn default() -> Self {
        LatencyCopy {
            histogram: new_histogram(),
            sum_us: 0,
        }
    }
}

impl LatencyCopy {
    pub fn merge(&mut self, other: &LatencyCopy) {
        // Same bounds everywhere, so adding cannot fail; if it ever did,
        // the sum would still be right and only the shape off.
        let _ = self.histogram.add(&other.histogram);
        self.sum_us += other.sum_us;
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The value below which `quantile` of the samples fall, in µs.
    pub fn quantile_us(&self, quantile: f64) -> u64 {
        self.histogram.value_at_quantile(quantile)
    }

    /// How many samples were at most `micros` (Prometheus's `le` buckets).
    pub fn count_at_most(&self, micros: u64) -> u64 {
        self.histogram.count_between(0, micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_copies_add_counts_and_sums() {
        let a = Latency::default();
        let b = Latency::default();
        for micros in [100, 200, 300] {
            a.record(micros);
        }
        b.record(10_000);
        let mut merged = a.copy();
        merged.merge(&b.copy());
        assert_eq!(merged.count(), 4);
        assert_eq!(merged.sum_us, 10_600);
        assert_eq!(merged.count_at_most(1_000), 3);
        assert!(merged.quantile_us(1.0) >= 10_000);
    }

    #[test]
    fn values_beyond_an_hour_are_clamped_not_lost() {
        let latency = Latency::default();
        latency.record(u64::MAX / 2);
        assert_eq!(latency.copy().count(), 1);
    }
}
