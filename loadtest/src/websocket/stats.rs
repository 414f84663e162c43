//! Counters shared by all sessions (one thread, so Cells suffice) and the
//! final report.

use super::settings::Settings;
use super::Outcome;
use crate::report::{latency_histogram, Report};
use crate::tally::Errors;
use hdrhistogram::Histogram;
use std::cell::{Cell, RefCell};

pub struct Stats {
    /// Sessions whose handshake succeeded or failed.
    pub settled: Cell<usize>,
    pub established: Cell<usize>,
    /// Established sessions that have ended, cleanly or not.
    pub finished: Cell<usize>,
    pub sent: Cell<u64>,
    pub echoed: Cell<u64>,
    pub mismatches: Cell<u64>,
    pub errors: RefCell<Errors>,
    /// Round trips in µs.
    pub rtt: RefCell<Histogram<u64>>,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            settled: Cell::new(0),
            established: Cell::new(0),
            finished: Cell::new(0),
            sent: Cell::new(0),
            echoed: Cell::new(0),
            mismatches: Cell::new(0),
            errors: RefCell::default(),
            rtt: RefCell::new(latency_histogram()),
        }
    }
}

pub fn bump<T: Copy + std::ops::Add<Output = T> + From<u8>>(c: &Cell<T>) {
    c.set(c.get() + T::from(1));
}

impl Stats {
    pub fn report(&self, s: &Settings, o: &Outcome) -> Report {
        let mut r = Report::new();
        r.text("target", &s.target.to_string());
        r.text("path", &s.path);
        r.num("connections", s.connections);
        r.num("attempted", o.attempted);
        r.num("established", self.established.get());
        let errors = self.errors.borrow();
        r.num("errors", errors.total());
        for (kind, n) in errors.entries() {
            r.num(&format!("errors_{kind}"), n);
        }
        let (sent, echoed, bad) = (self.sent.get(), self.echoed.get(), self.mismatches.get());
        r.num("messages_sent", sent);
        r.num("messages_echoed", echoed);
        r.num("messages_lost", sent.saturating_sub(echoed + bad));
        r.num("mismatches", bad);
        r.latency("rtt", &self.rtt.borrow());
        r.float("ramp_ms", o.ramp.as_secs_f64() * 1000.0, 0);
        r.float("rate_per_conn", s.rate, 2);
        r.float("duration_s", s.duration, 1);
        r.num("size", s.size);
        r.num("expired", u8::from(o.expired));
        r
    }
}
