//! The meter of one proxied request, carried in `Prepared` from routing to
//! the end of the exchange. The proxy code marks what happens (upstream
//! asked, server chosen, status known); the meter counts the request into
//! its worker's stats when dropped, so every way an exchange ends (relayed,
//! refused, aborted, the task cancelled) is counted exactly once without a
//! call at each of them.
//!
//! It is 16 bytes: the record itself is in the worker's `InFlight` slab,
//! since the meter sits in every connection's future (more than once:
//! `Prepared` is moved into the exchange's future by value).

use std::cell::Cell;
use std::rc::Rc;

use super::inflight::{Record, UNSET};
use super::worker_stats::WorkerStats;

pub struct RequestMeter {
    stats: Rc<WorkerStats>,
    /// `UNSET` once counted.
    slot: Cell<u32>,
}

impl RequestMeter {
    /// `http2`: the request is an HTTP/2 stream (counted by protocol).
    pub fn start(
        stats: &Rc<WorkerStats>,
        (listener, http2): (usize, bool),
        route: usize,
        backend: usize,
    ) -> Self {
        let slot = stats.inflight.insert(Record {
            started_us: stats.now_us(),
            upstream_from_us: UNSET,
            waiting_from_us: UNSET,
            upstream_head_us: UNSET,
            server: UNSET,
            status: 0,
            listener: narrow(listener),
            route: narrow(route),
            backend: narrow(backend),
            waiting: false,
            http2,
            tunnel: false,
            bytes: 0,
            access: None,
        });
        RequestMeter {
            stats: stats.clone(),
            slot: Cell::new(slot),
        }
    }

    /// The exchange asks for an upstream connection: the upstream's time
    /// (its latency) runs from here. Only the first call counts (a retry is
    /// the same request).
    pub fn upstream_begins(&self) {
        let now = self.stats.now_us();
        self.update(|r| {
            if r.upstream_from_us == UNSET {
                r.upstream_from_us = offset(r, now);
            }
        });
    }

    /// The request went upstream whole, body and all: from now until the
    /// response head it waits on the upstream (`tern_upstream_waiting`, and
    /// a long-poll once that lasts). A request still uploading is not: a
    /// client trickling its body is slow, not its upstream. Only the first
    /// call counts (a retry is the same wait).
    pub fn request_sent(&self) {
        let now = self.stats.now_us();
        let waiting = &self.stats.waiting;
        self.update(|r| {
            if r.waiting_from_us == UNSET && r.upstream_head_us == UNSET {
                r.waiting_from_us = offset(r, now);
                r.waiting = true;
                waiting.start(waiting_second(r));
            }
        });
    }

    /// Gives the request its access-log entry (only made when logging).
    pub fn attach(&self, entry: Box<crate::access_log::Entry>) {
        self.update(|r| r.access = Some(entry));
    }

    /// The index of the request's route (for logs).
    pub fn route(&self) -> usize {
        let route = self.stats.inflight.update(self.slot.get(), |r| r.route);
        route.map_or(usize::MAX, usize::from)
    }

    /// Bytes written to the client for this request.
    pub fn sent(&self, bytes: u64) {
        self.update(|r| r.bytes = bytes);
    }

    pub fn using_server(&self, server: usize) {
        self.update(|r| r.server = u32::try_from(server).unwrap_or(UNSET));
    }

    /// The upstream's final (or 101) response head reached tern.
    pub fn response_head(&self, status: u16) {
        let now = self.stats.now_us();
        let stats = &*self.stats;
        self.update(|r| {
            r.status = status;
            if r.upstream_head_us == UNSET {
                end_waiting(stats, r);
                r.upstream_head_us = offset(r, now);
            }
        });
    }

    /// The upstream switched protocols (101) and the client was told so
    /// with `status` (101 over HTTP/1.1, 200 on an HTTP/2 stream): a
    /// tunnel follows.
    pub fn switched(&self, status: u16) {
        self.response_head(status);
        self.update(|r| r.tunnel = true);
    }

    /// tern answered in the upstream's place (502, 503, 504, 400) with
    /// `bytes` of response, after whatever `sent` counted (a 100 Continue).
    /// Counted now: the time tern then spends closing the connection
    /// politely is not the request's.
    pub fn answered(&self, status: u16, bytes: u64) {
        self.update(|r| {
            r.status = status;
            r.bytes += bytes;
        });
        self.finish();
    }

    fn update(&self, f: impl FnOnce(&mut Record)) {
        self.stats.inflight.update(self.slot.get(), f);
    }

    /// Counts the request into the stats, once.
    fn finish(&self) {
        let slot = self.slot.replace(UNSET);
        if let Some(record) = self.stats.inflight.remove(slot) {
            self.stats.finish(record);
        }
    }
}

impl WorkerStats {
    /// Counts a request whose record left the slab, and logs it.
    pub(super) fn finish(&self, mut record: Record) {
        end_waiting(self, &mut record);
        self.count_request(&record);
        if let Some(entry) = record.access.take() {
            self.log_access(&entry, &record);
        }
    }

    /// Counts and logs every request still in flight as it stands: at exit,
    /// once `shutdown_grace` ran out, their connections close with the
    /// process and their meters are never dropped (they were missing from
    /// the access log). Returns how many.
    pub fn cut_in_flight(&self) -> usize {
        let records = self.inflight.take_all();
        let cut = records.len();
        for record in records {
            self.finish(record);
        }
        cut
    }
}

impl Drop for RequestMeter {
    fn drop(&mut self) {
        self.finish();
    }
}

fn end_waiting(stats: &WorkerStats, record: &mut Record) {
    if record.waiting {
        record.waiting = false;
        stats.waiting.end(waiting_second(record));
    }
}

fn waiting_second(record: &Record) -> u64 {
    (record.started_us + u64::from(record.waiting_from_us)) / 1_000_000
}

/// `now` as an offset from the record's start; UNSET itself means "not
/// yet", so a saturated offset stays just below it.
fn offset(record: &Record, now: u64) -> u32 {
    let offset = now.saturating_sub(record.started_us);
    u32::try_from(offset).unwrap_or(UNSET - 1).min(UNSET - 1)
}

/// Indexes beyond u16 are never configured; they land out of range and the
/// tables ignore them.
fn narrow(index: usize) -> u16 {
    u16::try_from(index).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> Rc<WorkerStats> {
        let plan = crate::config::from_str(
            "[[listener]]\nbind = \"127.0.0.1:0\"\n[[route]]\nbackend = \"a\"\n[backend.a]\nservers = [\"127.0.0.1:9\", \"127.0.0.1:10\"]\n",
            "t",
        )
        .expect("plan");
        Rc::new(WorkerStats::new(&plan))
    }

    #[test]
    fn a_relayed_request_counts_once_everywhere() {
        let stats = stats();
        {
            let meter = RequestMeter::start(&stats, (0, false), 0, 0);
            assert_eq!(stats.inflight.len(), 1);
            meter.upstream_begins();
            assert_eq!(stats.waiting.counts(0).0, 0, "still sending the request");
            meter.request_sent();
            assert_eq!(stats.waiting.counts(0).0, 1, "waiting on the upstream");
            meter.using_server(1);
            meter.response_head(204);
            assert_eq!(stats.waiting.counts(0).0, 0);
        }
        assert_eq!(stats.inflight.len(), 0);
        let two_xx = |table: &crate::metrics::table::ClassTable, row: usize| {
            table.copy()[row * crate::metrics::class::CLASSES + 2]
        };
        assert_eq!(two_xx(&stats.listeners, 0), 1);
        assert_eq!(two_xx(&stats.routes, 0), 1);
        assert_eq!(two_xx(&stats.backends, 0), 1);
        assert_eq!(two_xx(&stats.servers, 1), 1);
        assert_eq!(two_xx(&stats.servers, 0), 0);
        assert_eq!(stats.total_latency[0].copy().count(), 1);
        assert_eq!(stats.upstream_latency[0].copy().count(), 1);
    }

    #[test]
    fn an_answer_by_tern_is_counted_at_once_and_not_again() {
        let stats = stats();
        let meter = RequestMeter::start(&stats, (0, false), 0, 0);
        meter.upstream_begins();
        meter.request_sent();
        meter.answered(502, 0);
        assert_eq!(stats.inflight.len(), 0);
        assert_eq!(stats.waiting.counts(0).0, 0);
        drop(meter);
        assert_eq!(stats.backends.copy()[5], 1, "one 5xx");
        assert_eq!(stats.backends.copy().iter().sum::<u64>(), 1);
        assert_eq!(
            stats.upstream_latency[0].copy().count(),
            0,
            "no response head"
        );
    }

    #[test]
    fn a_tunnel_is_not_a_latency_sample() {
        let stats = stats();
        let meter = RequestMeter::start(&stats, (0, false), 0, 0);
        meter.upstream_begins();
        meter.switched(200);
        drop(meter);
        assert_eq!(stats.total_latency[0].copy().count(), 0);
        assert_eq!(stats.backends.copy()[2], 1, "the 200 an HTTP/2 client saw");
    }
}
