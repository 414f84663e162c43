//! tern's resident memory and open descriptors every `sample_every`, with
//! the traffic so far, and the verdict: no unexpected failure, and the
//! last sample's RSS and descriptors within 5% of the first after warm-up.

use super::ledger::Ledger;
use super::scrape::{self, Memory};
use crate::procstat::{rss_file_kib, vmrss_kib};
use std::net::SocketAddr;
use std::time::Duration;

/// How far the last sample may drift from the first after warm-up.
const FLAT: f64 = 0.05;

pub struct Sample {
    pub at: Duration,
    pub rss_kib: u64,
    /// The part of `rss_kib` that is the binary's pages (and other files).
    pub rss_file_kib: u64,
    pub fds: u64,
    /// From tern's /metrics, when its admin endpoint is given.
    pub memory: Option<Memory>,
}

pub fn take(pid: u32, admin: Option<SocketAddr>, ledger: &Ledger) -> Result<Sample, String> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("tern (pid {pid}) is gone: {e}"))?
        .count() as u64;
    Ok(Sample {
        at: ledger.started.elapsed(),
        rss_kib: vmrss_kib(pid)?,
        rss_file_kib: rss_file_kib(pid)?,
        fds,
        // A failed scrape only loses these columns for one line.
        memory: admin.and_then(|a| scrape::memory(a).ok()),
    })
}

pub fn header() -> String {
    format!(
        "{:>6} {:>10} {:>8} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "t",
        "rss KiB",
        "file KiB",
        "fds",
        "lp held",
        "ws held",
        "slow",
        "ok",
        "ok/s",
        "unexpctd",
        "expected",
        "pool KiB",
        "heap KiB",
        "free KiB"
    )
}

/// One line: the sample, connections held, requests answered (total and
/// since the previous line), failures so far.
pub fn line(sample: &Sample, ledger: &Ledger, previous_ok: &mut u64, every: Duration) -> String {
    let held = ledger.held_counts();
    let ok: u64 = ledger.ok_counts().values().sum();
    let rate = (ok - *previous_ok) as f64 / every.as_secs_f64().max(1.0);
    *previous_ok = ok;
    let kib = |pick: fn(&Memory) -> u64| {
        sample
            .memory
            .as_ref()
            .map_or("-".to_string(), |m| (pick(m) / 1024).to_string())
    };
    format!(
        "{:>5}s {:>10} {:>8} {:>6} {:>7} {:>7} {:>7} {:>6} {:>6.0} {:>8} {:>8} {:>8} {:>8} {:>8}",
        sample.at.as_secs(),
        sample.rss_kib,
        sample.rss_file_kib,
        sample.fds,
        held.get("longpoll").copied().unwrap_or(0),
        held.get("websocket").copied().unwrap_or(0),
        held.get("slowloris").copied().unwrap_or(0),
        ok,
        rate,
        ledger.unexpected().total(),
        ledger.expected().total(),
        kib(|m| m.pooled),
        kib(|m| m.heap_in_use),
        kib(|m| m.heap_free),
    )
}

/// Pass or fail, and why. A leak raises the floor: memory that stays. A
/// burst (a publish, a restart failing every long-poll) only lifts the
/// samples taken during it, by 10% and more, so one sample against another
/// says more about when they were taken than about a leak. So the verdict
/// compares the lowest sample of the first `window` after warm-up with the
/// lowest of the last `window`, a window being one cycle of disruptions
/// (restart and reloads); peaks and the plain first-to-last figures are
/// printed too.
pub fn verdict(
    samples: &[Sample],
    warmup: Duration,
    window: Duration,
    unexpected: u64,
) -> (bool, String) {
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at >= warmup).collect();
    let (Some(&first), Some(&last)) = (after.first(), after.last()) else {
        return (false, "FAIL: no sample after warm-up".into());
    };
    let head: Vec<&Sample> = after
        .iter()
        .copied()
        .filter(|s| s.at < first.at + window)
        .collect();
    let tail: Vec<&Sample> = after
        .iter()
        .copied()
        .filter(|s| s.at + window > last.at)
        .collect();
    let low = |w: &[&Sample], pick: fn(&Sample) -> u64| w.iter().map(|s| pick(s)).min();
    let high = |w: &[&Sample], pick: fn(&Sample) -> u64| w.iter().map(|s| pick(s)).max();
    let rss = Change::of(low(&head, |s| s.rss_kib), low(&tail, |s| s.rss_kib));
    let fds = Change::of(low(&head, |s| s.fds), low(&tail, |s| s.fds));
    let pass = unexpected == 0 && rss.flat() && fds.flat();
    let span = |w: &[&Sample]| {
        let secs = |s: Option<&&Sample>| s.map_or(0, |s| s.at.as_secs());
        format!("{}-{}s", secs(w.first()), secs(w.last()))
    };
    let text = format!(
        "{}: {unexpected} unexpected failures; lowest sample of {} vs {}: RSS (KiB) {}, \
         descriptors {}; limit ±{:.0}%\n  highest: RSS (KiB) {}; first to last sample ({}s to {}s): \
         RSS (KiB) {}, descriptors {}",
        if pass { "PASS" } else { "FAIL" },
        span(&head),
        span(&tail),
        rss,
        fds,
        FLAT * 100.0,
        Change::of(high(&head, |s| s.rss_kib), high(&tail, |s| s.rss_kib)),
        first.at.as_secs(),
        last.at.as_secs(),
        Change::of(Some(first.rss_kib), Some(last.rss_kib)),
        Change::of(Some(first.fds), Some(last.fds)),
    );
    (pass, text)
}

/// One figure at the start and at the end of the watched span.
struct Change {
    from: u64,
    to: u64,
}

impl Change {
    fn of(from: Option<u64>, to: Option<u64>) -> Change {
        Change {
            from: from.unwrap_or(0),
            to: to.unwrap_or(0),
        }
    }

    fn drift(&self) -> f64 {
        (self.to as f64 - self.from as f64) / (self.from.max(1) as f64)
    }

    fn flat(&self) -> bool {
        self.drift().abs() <= FLAT
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} -> {} ({:+.1}%)",
            self.from,
            self.to,
            self.drift() * 100.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, rss_kib: u64, fds: u64) -> Sample {
        Sample {
            at: Duration::from_secs(secs),
            rss_kib,
            rss_file_kib: 0,
            fds,
            memory: None,
        }
    }

    #[test]
    fn passes_only_flat_and_without_unexpected_failures() {
        let (warmup, window) = (Duration::from_secs(20), Duration::from_secs(10));
        let flat = [at(10, 50, 10), at(20, 1000, 100), at(30, 1040, 104)];
        assert!(verdict(&flat, warmup, window, 0).0);
        assert!(!verdict(&flat, warmup, window, 1).0);
        let growing = [at(20, 1000, 100), at(30, 1060, 100)];
        assert!(!verdict(&growing, warmup, window, 0).0);
        let leaking_fds = [at(20, 1000, 100), at(30, 1000, 94)];
        assert!(!verdict(&leaking_fds, warmup, window, 0).0);
        assert!(
            !verdict(&[at(10, 1, 1)], warmup, window, 0).0,
            "no sample after warm-up"
        );
    }

    #[test]
    fn a_burst_in_one_sample_is_not_a_leak_but_a_rising_floor_is() {
        let (warmup, window) = (Duration::from_secs(0), Duration::from_secs(30));
        // Same floor, the last sample taken during a burst.
        let bursty = [
            at(0, 1000, 100),
            at(10, 1200, 100),
            at(20, 1010, 100),
            at(30, 1020, 100),
            at(40, 1000, 100),
            at(50, 1200, 100),
        ];
        let (pass, text) = verdict(&bursty, warmup, window, 0);
        assert!(pass, "{text}");
        assert!(text.contains("0-20s vs 30-50s"), "{text}");
        let leaking = [
            at(0, 1000, 100),
            at(10, 1200, 100),
            at(20, 1000, 100),
            at(30, 1100, 100),
            at(40, 1300, 100),
            at(50, 1100, 100),
        ];
        assert!(!verdict(&leaking, warmup, window, 0).0);
    }
}
