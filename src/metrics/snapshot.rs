//! A copy of one worker's numbers, made on the worker's thread and sent to
//! the admin thread, and the sum of every worker's copies.

use std::os::fd::RawFd;

use super::latency::LatencyCopy;
use super::WorkerStats;
use crate::conn::wire as bytes;

#[derive(Clone, Default)]
pub struct WorkerSnapshot {
    pub worker: usize,
    /// Client connections open, and how many of them have a request in
    /// flight (the others wait for a request: idle keep-alives).
    pub connections: u64,
    pub in_flight: u64,
    pub accepted: u64,
    pub http2_connections: u64,
    /// `rows * CLASSES` counts each (see `ClassTable`).
    pub listeners: Vec<u64>,
    /// HTTP/1.x, then HTTP/2 (`rows * CLASSES`).
    pub protocols: Vec<u64>,
    pub routes: Vec<u64>,
    pub backends: Vec<u64>,
    pub servers: Vec<u64>,
    /// Per server.
    pub connects: Vec<u64>,
    pub reuses: Vec<u64>,
    pub connect_failures: Vec<u64>,
    pub pooled_idle: Vec<u64>,
    /// Per listener: connections waiting in the accept queues.
    pub listen_queues: Vec<u64>,
    pub upstream_waiting: u64,
    pub long_polls: u64,
    pub tunnels_open: u64,
    pub tunnels_total: u64,
    /// Free I/O buffers the worker's pool keeps, small then big (see
    /// `crate::buffer::pooled`).
    pub pooled_buffers: [u64; 2],
    /// In `bytes::FLOW_LABELS` order.
    pub bytes: [u64; 4],
    /// Per backend.
    pub total_latency: Vec<LatencyCopy>,
    pub upstream_latency: Vec<LatencyCopy>,
}

/// A listening socket of a worker: its listener's index and descriptor.
pub type ListenerFd = (usize, RawFd);

/// What the worker knows of itself beyond its stats.
pub struct Worker {
    pub id: usize,
    pub connections: u64,
    pub pooled_idle: Vec<u64>,
    /// Per listener, the connections waiting in its accept queues.
    pub listen_queues: Vec<u64>,
}

/// Copies the numbers of the worker running this thread.
pub fn take(stats: &WorkerStats, worker: Worker) -> WorkerSnapshot {
    let (upstream_waiting, long_polls) = stats.waiting.counts(stats.now_us() / 1_000_000);
    WorkerSnapshot {
        worker: worker.id,
        connections: worker.connections,
        in_flight: stats.inflight.len() as u64,
        accepted: stats.accepted.get(),
        http2_connections: stats.http2_connections.get(),
        listeners: stats.listeners.copy(),
        protocols: stats.protocols.copy(),
        routes: stats.routes.copy(),
        backends: stats.backends.copy(),
        servers: stats.servers.copy(),
        connects: stats.connects.copy(),
        reuses: stats.reuses.copy(),
        connect_failures: stats.connect_failures.copy(),
        pooled_idle: worker.pooled_idle,
        listen_queues: worker.listen_queues,
        upstream_waiting,
        long_polls,
        tunnels_open: stats.tunnels_open.get(),
        tunnels_total: stats.tunnels_total.get(),
        pooled_buffers: crate::buffer::pooled().map(|n| n as u64),
        bytes: bytes::totals(),
        total_latency: stats.total_latency.iter().map(|l| l.copy()).collect(),
        upstream_latency: stats.upstream_latency.iter().map(|l| l.copy()).collect(),
    }
}

/// Adds the gauges of `stats`, a replaced generation still serving, to the
/// current generation's `snapshot`: a request that began before a reload is
/// still in flight, waiting or a tunnel after it. (Its counters reach the
/// newest generation when it ends; see `carry`.)
pub fn add_gauges(stats: &WorkerStats, snapshot: &mut WorkerSnapshot) {
    let (upstream_waiting, long_polls) = stats.waiting.counts(stats.now_us() / 1_000_000);
    snapshot.in_flight += stats.inflight.len() as u64;
    snapshot.upstream_waiting += upstream_waiting;
    snapshot.long_polls += long_polls;
    snapshot.tunnels_open += stats.tunnels_open.get();
}

impl WorkerSnapshot {
    /// Adds `other` into this one (the `worker` field is left alone).
    pub fn absorb(&mut self, other: &WorkerSnapshot) {
        self.connections += other.connections;
        self.in_flight += other.in_flight;
        self.accepted += other.accepted;
        self.http2_connections += other.http2_connections;
        for (mine, theirs) in [
            (&mut self.listeners, &other.listeners),
            (&mut self.protocols, &other.protocols),
            (&mut self.routes, &other.routes),
            (&mut self.backends, &other.backends),
            (&mut self.servers, &other.servers),
            (&mut self.connects, &other.connects),
            (&mut self.reuses, &other.reuses),
            (&mut self.connect_failures, &other.connect_failures),
            (&mut self.pooled_idle, &other.pooled_idle),
            (&mut self.listen_queues, &other.listen_queues),
        ] {
            add_into(mine, theirs);
        }
        self.upstream_waiting += other.upstream_waiting;
        self.long_polls += other.long_polls;
        self.tunnels_open += other.tunnels_open;
        self.tunnels_total += other.tunnels_total;
        for (mine, theirs) in self.bytes.iter_mut().zip(other.bytes) {
            *mine += theirs;
        }
        for (mine, theirs) in self.pooled_buffers.iter_mut().zip(other.pooled_buffers) {
            *mine += theirs;
        }
        merge_latency(&mut self.total_latency, &other.total_latency);
        merge_latency(&mut self.upstream_latency, &other.upstream_latency);
    }
}

fn add_into(mine: &mut Vec<u64>, theirs: &[u64]) {
    if mine.len() < theirs.len() {
        mine.resize(theirs.len(), 0);
    }
    for (m, t) in mine.iter_mut().zip(theirs) {
        *m += t;
    }
}

fn merge_latency(mine: &mut Vec<LatencyCopy>, theirs: &[LatencyCopy]) {
    if mine.len() < theirs.len() {
        mine.resize_with(theirs.len(), LatencyCopy::default);
    }
    for (m, t) in mine.iter_mut().zip(theirs) {
        m.merge(t);
    }
}

/// Every worker's copy, and their sum.
pub struct Merged {
    pub workers: Vec<WorkerSnapshot>,
    pub sum: WorkerSnapshot,
}

impl Merged {
    pub fn new(mut workers: Vec<WorkerSnapshot>) -> Merged {
        workers.sort_by_key(|w| w.worker);
        let mut sum = WorkerSnapshot::default();
        for worker in &workers {
            sum.absorb(worker);
        }
        Merged { workers, sum }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absorbing_adds_every_counter() {
        let one = WorkerSnapshot {
            worker: 1,
            connections: 2,
            servers: vec![1, 2, 3],
            bytes: [1, 2, 3, 4],
            total_latency: vec![LatencyCopy::default()],
            ..WorkerSnapshot::default()
        };
        let merged = Merged::new(vec![one.clone(), WorkerSnapshot { worker: 0, ..one }]);
        assert_eq!(merged.workers[0].worker, 0, "sorted by worker");
        assert_eq!(merged.sum.connections, 4);
        assert_eq!(merged.sum.servers, vec![2, 4, 6]);
        assert_eq!(merged.sum.bytes, [2, 4, 6, 8]);
        assert_eq!(merged.sum.total_latency.len(), 1);
    }
}
