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

/// Pass or fail, and why, in one line.
pub fn verdict(samples: &[Sample], warmup: Duration, unexpected: u64) -> (bool, String) {
    let first = samples.iter().find(|s| s.at >= warmup);
    let (Some(first), Some(last)) = (first, samples.last()) else {
        return (false, "FAIL: no sample after warm-up".into());
    };
    let drift = |a: u64, b: u64| (b as f64 - a as f64) / (a.max(1) as f64);
    let rss = drift(first.rss_kib, last.rss_kib);
    let fds = drift(first.fds, last.fds);
    let pass = unexpected == 0 && rss.abs() <= FLAT && fds.abs() <= FLAT;
    let text = format!(
        "{}: {unexpected} unexpected failures; from {}s to {}s RSS {} -> {} KiB ({:+.1}%), \
         descriptors {} -> {} ({:+.1}%); limit ±{:.0}%",
        if pass { "PASS" } else { "FAIL" },
        first.at.as_secs(),
        last.at.as_secs(),
        first.rss_kib,
        last.rss_kib,
        rss * 100.0,
        first.fds,
        last.fds,
        fds * 100.0,
        FLAT * 100.0
    );
    (pass, text)
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
        let warmup = Duration::from_secs(20);
        let flat = [at(10, 50, 10), at(20, 1000, 100), at(30, 1040, 104)];
        assert!(verdict(&flat, warmup, 0).0);
        assert!(!verdict(&flat, warmup, 1).0);
        let growing = [at(20, 1000, 100), at(30, 1060, 100)];
        assert!(!verdict(&growing, warmup, 0).0);
        let leaking_fds = [at(20, 1000, 100), at(30, 1000, 94)];
        assert!(!verdict(&leaking_fds, warmup, 0).0);
        assert!(
            !verdict(&[at(10, 1, 1)], warmup, 0).0,
            "no sample after warm-up"
        );
    }
}
