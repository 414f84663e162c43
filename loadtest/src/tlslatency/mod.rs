//! `tern-loadtest tls-latency`: new TLS connections opened at a fixed rate,
//! each sending one request, with the TCP connect, the handshake and the
//! request timed apart.
//!
//! wrk opens connections as fast as it can and starts its latency clock
//! after the handshake; in the handshake scenarios it is the bottleneck, so
//! what it reports is mostly its own queueing. Here the rate is fixed and
//! well below what the client can do (open loop: a connection starts at its
//! slot whether or not earlier ones have finished), so the figures describe
//! the server, and `total` is measured from the slot, so a server that falls
//! behind is charged for the wait (no coordinated omission).

mod exchange;
mod pacing;
mod settings;
mod verifier;

use crate::report::{latency_histogram, Report};
use crate::tally::Errors;
use exchange::{Exchange, Timings};
use hdrhistogram::Histogram;
use pacing::Pacing;
use settings::Settings;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let s = Settings::parse(args)?;
    let exchange = Arc::new(Exchange::new(&s)?);
    let pacing = Arc::new(Pacing::new(s.rate, s.seconds));
    let threads: Vec<_> = (0..s.threads)
        .map(|_| {
            let (exchange, pacing) = (exchange.clone(), pacing.clone());
            std::thread::spawn(move || client_thread(&exchange, &pacing))
        })
        .collect();
    let mut all = Results::default();
    for thread in threads {
        let one = thread
            .join()
            .map_err(|_| "a client thread panicked".to_string())?;
        all.merge(&one)?;
    }
    let report = all.report(&s, pacing.elapsed_secs());
    if s.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    Ok(ExitCode::SUCCESS)
}

/// One thread's share: it takes the next slot, waits for its time, runs
/// the exchange, and repeats until the slots run out.
fn client_thread(exchange: &Exchange, pacing: &Pacing) -> Results {
    let mut results = Results::default();
    while let Some(slot) = pacing.next_slot() {
        let started = Instant::now();
        let late_us = started.saturating_duration_since(slot).as_micros() as u64;
        results.late_max_us = results.late_max_us.max(late_us);
        match exchange.once() {
            Ok(t) => results.record(slot, started, &t),
            Err(kind) => results.errors.add(kind),
        }
    }
    results
}

/// Latencies in µs, and what went wrong.
struct Results {
    connect: Histogram<u64>,
    handshake: Histogram<u64>,
    request: Histogram<u64>,
    /// From the connection's slot to the end of its response.
    total: Histogram<u64>,
    resumed: u64,
    errors: Errors,
    /// The most a connection started after its slot: the client's own lag.
    late_max_us: u64,
}

impl Default for Results {
    fn default() -> Results {
        Results {
            connect: latency_histogram(),
            handshake: latency_histogram(),
            request: latency_histogram(),
            total: latency_histogram(),
            resumed: 0,
            errors: Errors::default(),
            late_max_us: 0,
        }
    }
}

impl Results {
    fn record(&mut self, slot: Instant, started: Instant, t: &Timings) {
        let us = |d: std::time::Duration| (d.as_micros() as u64).max(1);
        // Values beyond the histogram's hour are a broken run; saturate.
        self.connect.saturating_record(us(t.connected - started));
        self.handshake.saturating_record(us(t.shaken - t.connected));
        self.request.saturating_record(us(t.answered - t.shaken));
        self.total.saturating_record(us(t.answered - slot));
        self.resumed += u64::from(t.resumed);
    }

    fn merge(&mut self, other: &Results) -> Result<(), String> {
        let add = |mine: &mut Histogram<u64>, theirs: &Histogram<u64>| {
            mine.add(theirs)
                .map_err(|e| format!("merging histograms: {e}"))
        };
        add(&mut self.connect, &other.connect)?;
        add(&mut self.handshake, &other.handshake)?;
        add(&mut self.request, &other.request)?;
        add(&mut self.total, &other.total)?;
        self.resumed += other.resumed;
        for (kind, n) in other.errors.entries() {
            self.errors.add_n(&kind, n);
        }
        self.late_max_us = self.late_max_us.max(other.late_max_us);
        Ok(())
    }

    fn report(&self, s: &Settings, elapsed: f64) -> Report {
        let mut r = Report::new();
        r.text("target", &s.target.to_string());
        r.text("handshake_kind", if s.full { "full" } else { "resumed" });
        r.float("rate", s.rate, 1);
        r.num("completed", self.total.len());
        r.num("resumed", self.resumed);
        r.num("errors", self.errors.total());
        r.text("error_kinds", &self.errors.to_words());
        r.float(
            "achieved_rate",
            self.total.len() as f64 / elapsed.max(1e-9),
            1,
        );
        r.float("client_late_max_ms", self.late_max_us as f64 / 1000.0, 3);
        r.latency("connect", &self.connect);
        r.latency("handshake", &self.handshake);
        r.latency("request", &self.request);
        r.latency("total", &self.total);
        r
    }
}
