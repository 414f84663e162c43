//! What happened, by kind: successes, and failures split into expected
//! ones (during an upstream restart, when the app itself is gone) and
//! unexpected ones, which fail the soak.

use crate::clock::mono_ns;
use crate::tally::Errors;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// After the restarted origin is listening again, failures still count as
/// caused by the restart for this long: tern's passive checks and pooled
/// connections catch up, and answers already on the way arrive.
pub const RESTART_GRACE_NS: u64 = 3_000_000_000;

/// The restart window, in CLOCK_MONOTONIC ns, shared with the conductor
/// thread that restarts the origin: `start` is set before the kill, `end`
/// (ready + grace) once it listens again; `end == 0` while it is down.
#[derive(Default)]
pub struct Disruption {
    start: AtomicU64,
    end: AtomicU64,
}

impl Disruption {
    pub fn begin(&self) {
        self.end.store(0, Ordering::SeqCst);
        self.start.store(mono_ns(), Ordering::SeqCst);
    }

    pub fn ready(&self) {
        self.end
            .store(mono_ns() + RESTART_GRACE_NS, Ordering::SeqCst);
    }

    /// Whether the span `from..=to` overlaps the latest restart window.
    fn overlaps(&self, from: u64, to: u64) -> bool {
        let start = self.start.load(Ordering::SeqCst);
        let end = self.end.load(Ordering::SeqCst);
        start != 0 && to >= start && (end == 0 || from <= end)
    }
}

pub struct Ledger {
    pub started: Instant,
    pub end: Instant,
    pub disruption: Arc<Disruption>,
    ok: RefCell<BTreeMap<&'static str, u64>>,
    expected: RefCell<Errors>,
    unexpected: RefCell<Errors>,
    /// Connections each kind of client holds right now.
    held: RefCell<BTreeMap<&'static str, i64>>,
    stopping: Cell<bool>,
}

impl Ledger {
    pub fn new(started: Instant, end: Instant, disruption: Arc<Disruption>) -> Ledger {
        Ledger {
            started,
            end,
            disruption,
            ok: RefCell::default(),
            expected: RefCell::default(),
            unexpected: RefCell::default(),
            held: RefCell::default(),
            stopping: Cell::new(false),
        }
    }

    /// Clients start no new work once this is false.
    pub fn running(&self) -> bool {
        !self.stopping.get() && Instant::now() < self.end
    }

    pub fn stop(&self) {
        self.stopping.set(true);
    }

    pub fn ok(&self, kind: &'static str) {
        *self.ok.borrow_mut().entry(kind).or_default() += 1;
    }

    /// A failure of `what` (the client kind) for `cause`, of an exchange
    /// that began at `since` (CLOCK_MONOTONIC ns) and failed now. It is the
    /// restart's when the exchange was under way during the restart window.
    /// Failures once the soak is stopping (cut off) are not counted.
    pub fn fail(&self, what: &str, cause: &str, since: u64) {
        if self.stopping.get() {
            return;
        }
        let key = format!("{what}: {cause}");
        if self.disruption.overlaps(since, mono_ns()) {
            self.expected.borrow_mut().add(&key);
        } else {
            self.unexpected.borrow_mut().add(&key);
        }
    }

    pub fn hold(&self, kind: &'static str, delta: i64) {
        *self.held.borrow_mut().entry(kind).or_default() += delta;
    }

    pub fn ok_counts(&self) -> BTreeMap<&'static str, u64> {
        self.ok.borrow().clone()
    }

    pub fn held_counts(&self) -> BTreeMap<&'static str, i64> {
        self.held.borrow().clone()
    }

    pub fn expected(&self) -> Errors {
        self.expected.borrow().clone()
    }

    pub fn unexpected(&self) -> Errors {
        self.unexpected.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn failures_overlapping_a_restart_are_expected_others_not() {
        let disruption = Arc::new(Disruption::default());
        let now = Instant::now();
        let ledger = Ledger::new(now, now + Duration::from_secs(60), disruption.clone());
        let before = mono_ns();
        ledger.fail("get", "status 502", before);
        disruption.begin();
        // Began before the restart, failed during it.
        ledger.fail("longpoll", "status 502", before);
        disruption.ready();
        // Began during the window (which runs until 3 s after ready).
        ledger.fail("websocket", "closed", mono_ns());
        assert_eq!(ledger.unexpected().to_words(), "get: status 502=1");
        assert_eq!(ledger.expected().total(), 2);
        ledger.stop();
        ledger.fail("get", "reset", mono_ns());
        assert_eq!(
            ledger.unexpected().total(),
            1,
            "cut-off failures are not counted"
        );
    }
}
