//! One worker's counters, gauges and latency histograms. Written only by
//! the worker's own thread, with plain cells: no atomics, no cache line
//! shared with another core. The admin thread never reads them directly; it
//! asks the worker for a copy (see `snapshot`).

use std::cell::Cell;

use crate::access_log::{AccessLog, Done, Entry};

use super::clock::Clock;
use super::inflight::{InFlight, Record, UNSET};
use super::latency::Latency;
use super::table::{ClassTable, Counts};
use super::waiting::Waiting;
use crate::config::Plan;

pub struct WorkerStats {
    /// Times in this module are microseconds on this clock.
    clock: Clock,
    pub(super) listeners: ClassTable,
    /// Row 0: HTTP/1.x requests; row 1: HTTP/2 streams.
    pub(super) protocols: ClassTable,
    /// One row per route, then one for requests no route matched.
    pub(super) routes: ClassTable,
    pub(super) no_route: usize,
    pub(super) backends: ClassTable,
    pub(super) servers: ClassTable,
    pub(super) connects: Counts,
    pub(super) reuses: Counts,
    pub(super) connect_failures: Counts,
    pub(super) accepted: Cell<u64>,
    /// Connections that completed the HTTP/2 handshake (preface and
    /// SETTINGS), of those accepted.
    pub(super) http2_connections: Cell<u64>,
    /// Requests between their head being parsed and their exchange ending.
    pub(super) inflight: InFlight,
    pub(super) tunnels_open: Cell<u64>,
    pub(super) tunnels_total: Cell<u64>,
    pub(super) waiting: Waiting,
    /// Per backend.
    pub(super) total_latency: Box<[Latency]>,
    pub(super) upstream_latency: Box<[Latency]>,
    /// Set when access logging is on: requests are logged as they are
    /// counted.
    access: Option<AccessLog>,
}

impl WorkerStats {
    pub fn new(plan: &Plan) -> Self {
        let backends = plan.backends.len();
        WorkerStats {
            clock: Clock::default(),
            listeners: ClassTable::new(plan.listeners.len()),
            protocols: ClassTable::new(2),
            routes: ClassTable::new(plan.routes.len() + 1),
            no_route: plan.routes.len(),
            backends: ClassTable::new(backends),
            servers: ClassTable::new(plan.server_count),
            connects: Counts::new(plan.server_count),
            reuses: Counts::new(plan.server_count),
            connect_failures: Counts::new(plan.server_count),
            accepted: Cell::new(0),
            http2_connections: Cell::new(0),
            inflight: InFlight::default(),
            tunnels_open: Cell::new(0),
            tunnels_total: Cell::new(0),
            waiting: Waiting::default(),
            total_latency: (0..backends).map(|_| Latency::default()).collect(),
            upstream_latency: (0..backends).map(|_| Latency::default()).collect(),
            access: None,
        }
    }

    /// Logs every request it counts to `log` (when it is enabled).
    pub fn with_access_log(mut self, log: AccessLog) -> Self {
        self.access = log.enabled().then_some(log);
        self
    }

    pub fn access_enabled(&self) -> bool {
        self.access.is_some()
    }

    /// Writes what the access log has buffered (the worker's tick).
    pub fn flush_access_log(&self) {
        if let Some(log) = &self.access {
            log.tick();
        }
    }

    /// The line for a proxied request, from its record.
    pub fn log_access(&self, entry: &Entry, record: &Record) {
        let Some(log) = &self.access else {
            return;
        };
        let known = |value: u32| (value != UNSET).then_some(value);
        let done = Done {
            status: record.status,
            bytes: record.bytes,
            route: Some(usize::from(record.route)),
            backend: Some(usize::from(record.backend)),
            server: known(record.server).map(|s| s as usize),
            upstream_us: known(record.upstream_head_us)
                .zip(known(record.upstream_from_us))
                .map(|(head, from)| u64::from(head.saturating_sub(from))),
            total_us: self.now_us().saturating_sub(record.started_us),
        };
        log.write(entry, &done);
    }

    /// The line for a request tern answered itself.
    pub fn log_local(&self, entry: &Entry, route: Option<usize>, status: u16, bytes: u64) {
        if let Some(log) = &self.access {
            let done = Done {
                status,
                bytes,
                route,
                backend: None,
                server: None,
                upstream_us: None,
                total_us: 0,
            };
            log.write(entry, &done);
        }
    }

    pub fn now_us(&self) -> u64 {
        self.clock.now_us()
    }

    pub fn connection_accepted(&self) {
        bump(&self.accepted);
    }

    pub fn http2_connection(&self) {
        bump(&self.http2_connections);
    }

    /// A request tern answered itself before routing it to a backend (a
    /// malformed head, no matching route, a head timeout).
    pub fn answered_locally(&self, listener: usize, status: u16) {
        self.answered_locally_over(listener, status, false);
    }

    /// `answered_locally`, for a request that may have come over HTTP/2.
    pub fn answered_locally_over(&self, listener: usize, status: u16, http2: bool) {
        self.listeners.add(listener, status);
        self.protocols.add(usize::from(http2), status);
        self.routes.add(self.no_route, status);
    }

    pub fn upstream_reused(&self, server: usize) {
        self.reuses.add(server);
    }

    pub fn upstream_connected(&self, server: usize) {
        self.connects.add(server);
    }

    /// Refused, unreachable or timed out.
    pub fn upstream_connect_failed(&self, server: usize) {
        self.connect_failures.add(server);
    }

    /// Counts a tunnel as open for as long as the guard lives.
    pub fn tunnel_opened(&self) -> TunnelOpen<'_> {
        bump(&self.tunnels_open);
        bump(&self.tunnels_total);
        TunnelOpen(self)
    }
}

impl WorkerStats {
    /// Counts a finished request in every table, and its latencies.
    pub(super) fn count_request(&self, record: &Record) {
        let status = record.status;
        self.listeners.add(usize::from(record.listener), status);
        self.protocols.add(usize::from(record.http2), status);
        self.routes.add(usize::from(record.route), status);
        self.backends.add(usize::from(record.backend), status);
        if record.server != UNSET {
            self.servers.add(record.server as usize, status);
        }
        let backend = usize::from(record.backend);
        // A tunnel's life is not a request's latency.
        if !record.tunnel {
            if let Some(total) = self.total_latency.get(backend) {
                total.record(self.now_us().saturating_sub(record.started_us));
            }
        }
        let (from, head) = (record.upstream_from_us, record.upstream_head_us);
        if from != UNSET && head != UNSET {
            if let Some(upstream) = self.upstream_latency.get(backend) {
                upstream.record(u64::from(head.saturating_sub(from)));
            }
        }
    }
}

pub(super) fn bump(cell: &Cell<u64>) {
    cell.set(cell.get() + 1);
}

fn drop_one(cell: &Cell<u64>) {
    cell.set(cell.get().saturating_sub(1));
}

pub struct TunnelOpen<'a>(&'a WorkerStats);

impl Drop for TunnelOpen<'_> {
    fn drop(&mut self) {
        drop_one(&self.0.tunnels_open);
    }
}
