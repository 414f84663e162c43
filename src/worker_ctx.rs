//! What every connection task of one worker shares: the plan, the upstream
//! pool, the upstream state (balancing, in-flight counts, passive health),
//! the drain signal. Lives on one thread (`Rc`).
//!
//! One `WorkerCtx` is one generation of the worker: a reload builds a new
//! one for the new plan and points the worker's `newest` cell, which every
//! generation shares, at it. A connection keeps the generation it holds for
//! the request in flight and moves to the newest when its next request
//! starts, so requests in flight finish on the plan they began with, and
//! nothing on the request path is shared between threads (the look is a
//! `RefCell` borrow and a pointer comparison).
//!
//! The cell holds the newest generation weakly and no generation links to
//! a later one, so a long-lived connection (a WebSocket, an idle
//! keep-alive) pins only its own generation, never the chain of every one
//! since: the worker holds the newest, connections hold theirs, and a
//! generation nobody holds is freed at once.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use crate::access_log::AccessLog;
use crate::config::Plan;
use crate::doorbell::{NextWake, Waiters};
use crate::listen::ListenerInfo;
use crate::metrics::snapshot::{self, ListenerFd};
use crate::metrics::{WorkerSnapshot, WorkerStats};
use crate::shutdown::Drain;
use crate::upstream::pool::UpstreamPool;
use crate::upstream::server_state::ServerStates;
use crate::upstream::state::WorkerUpstreams;

pub struct WorkerCtx {
    pub id: usize,
    pub plan: Arc<Plan>,
    /// `Rc`: a replaced generation hands connections returned to it on to
    /// its successor's pool.
    pub pool: Rc<UpstreamPool>,
    pub upstreams: WorkerUpstreams,
    /// Shared by every generation of the worker.
    pub drain: Rc<Drain>,
    /// Client connections open on this worker, in every generation.
    pub connections: Rc<Connections>,
    /// This worker's counters (`Rc`: each request's meter holds it).
    pub stats: Rc<WorkerStats>,
    /// Drained or disabled servers, set from the admin endpoint.
    pub server_states: Arc<ServerStates>,
    /// Per backend: a moving average of how long responses take to start,
    /// in microseconds; it decides whether waits for them are quick.
    response_wait_us: Vec<Cell<u32>>,
    /// The worker's newest generation, shared by all of them (weak: the
    /// worker holds it).
    newest: Rc<RefCell<Weak<WorkerCtx>>>,
    /// Counts this generation as live (`edge_counts`) until dropped.
    _live: crate::edge_counts::Generation,
    /// This generation's listeners: a connection moving here from an older
    /// generation finds its listener's new index (and whether it still
    /// exists) by address.
    listeners: RefCell<Vec<Rc<ListenerInfo>>>,
}

/// A backend whose responses start within this, on average, is waited for
/// with a posted read (see `Conn::wait_and_fill`).
const QUICK_RESPONSE_US: u32 = 5_000;
/// Where the average starts: slow, so long-poll backends never pin buffers.
const INITIAL_RESPONSE_US: u32 = 1_000_000;

impl WorkerCtx {
    pub fn new(id: usize, plan: Arc<Plan>) -> Self {
        WorkerCtx {
            id,
            pool: Rc::new(UpstreamPool::new(
                plan.server_count,
                plan.pool,
                plan.worker_connections,
            )),
            upstreams: WorkerUpstreams::new(
                &plan.backends,
                plan.server_count,
                plan.server_slots.clone(),
                id,
            ),
            drain: Rc::default(),
            connections: Rc::default(),
            stats: Rc::new(WorkerStats::new(&plan).with_access_log(AccessLog::new(plan.clone()))),
            server_states: Arc::new(ServerStates::new(plan.server_count)),
            response_wait_us: (0..plan.backends.len())
                .map(|_| Cell::new(INITIAL_RESPONSE_US))
                .collect(),
            newest: Rc::default(),
            _live: crate::edge_counts::Generation::new(),
            listeners: RefCell::new(Vec::new()),
            plan,
        }
    }

    /// The next generation of the same worker: shares its drain signal and
    /// connection count, starts everything sized by the plan afresh.
    pub fn next_generation(&self, plan: Arc<Plan>, states: Arc<ServerStates>) -> Self {
        let mut next = WorkerCtx::new(self.id, plan).with_server_states(states);
        next.drain = self.drain.clone();
        next.connections = self.connections.clone();
        next.newest = self.newest.clone();
        next
    }

    /// Makes `next` the newest generation for every generation of the
    /// worker. The caller (the worker) keeps `next` alive.
    pub fn set_newest(&self, next: &Rc<WorkerCtx>) {
        *self.newest.borrow_mut() = Rc::downgrade(next);
    }

    /// The newest generation, if a reload replaced this one.
    pub fn newest(&self) -> Option<Rc<WorkerCtx>> {
        let newest = self.newest.borrow();
        if std::ptr::eq(newest.as_ptr(), self) {
            return None;
        }
        newest.upgrade()
    }

    pub fn set_listeners(&self, listeners: Vec<Rc<ListenerInfo>>) {
        *self.listeners.borrow_mut() = listeners;
    }

    /// This generation's listener on `addr`, if it still has one.
    pub fn listener_at(&self, addr: SocketAddr) -> Option<Rc<ListenerInfo>> {
        self.listeners
            .borrow()
            .iter()
            .find(|info| info.addr == addr)
            .cloned()
    }
}

impl Drop for WorkerCtx {
    /// A replaced generation's last connection is gone: what it counted
    /// since the switch goes on in the newest generation's counters
    /// (Prometheus counters never go down; see `metrics::carry`).
    fn drop(&mut self) {
        if let Some(newest) = self.newest() {
            let rows = crate::metrics::carry::Rows::between(&self.plan, &newest.plan);
            newest.stats.take_counts(&self.stats, &rows);
        }
    }
}

impl WorkerCtx {
    /// `backend_up`: the backend has a live server, as this worker sees it.
    pub fn backend_live(&self, backend: usize) -> bool {
        self.plan
            .backends
            .get(backend)
            .is_some_and(|b| self.upstreams.backend_live(&self.plan.health, b))
    }

    /// Shares the process's admin state table instead of a private one.
    pub fn with_server_states(mut self, states: Arc<ServerStates>) -> Self {
        self.server_states = states;
        self
    }

    pub fn backend_is_quick(&self, backend: usize) -> bool {
        self.response_wait_us
            .get(backend)
            .is_some_and(|avg| avg.get() < QUICK_RESPONSE_US)
    }

    /// Folds one response's wait into the backend's average (weight 1/8).
    pub fn note_response_wait(&self, backend: usize, waited_us: u64) {
        if let Some(avg) = self.response_wait_us.get(backend) {
            let sample = u32::try_from(waited_us).unwrap_or(u32::MAX);
            let old = avg.get();
            avg.set(old - old / 8 + sample / 8);
        }
    }
}

impl WorkerCtx {
    /// Copies the numbers of the worker running this thread.
    pub fn snapshot(&self, listener_fds: &[ListenerFd]) -> WorkerSnapshot {
        let mut listen_queues = vec![0; self.plan.listeners.len()];
        for &(index, fd) in listener_fds {
            let len = crate::metrics::listen_queue::accept_queue_len(fd);
            if let (Some(slot), Some(len)) = (listen_queues.get_mut(index), len) {
                *slot += len;
            }
        }
        let worker = snapshot::Worker {
            id: self.id,
            connections: self.connections.open() as u64,
            pooled_idle: self.pool.idle_counts(),
            listen_queues,
        };
        snapshot::take(&self.stats, worker)
    }
}

/// The client connections open on one worker, and the accept loops that
/// wait for one of them to end (at `[server] max_connections`).
#[derive(Default)]
pub struct Connections {
    open: Cell<usize>,
    /// Accepted, their task not started yet (it counts itself as open).
    starting: Cell<usize>,
    /// Accepts posted to the kernel and not yet completed: each may bring
    /// a connection at any moment, so each holds a place under the cap.
    posted: Cell<usize>,
    freed: Waiters,
}

impl Connections {
    pub fn open(&self) -> usize {
        self.open.get()
    }

    /// Open, accepted but not yet counted as open, and places held by
    /// accepts in flight.
    pub fn held(&self) -> usize {
        self.open.get() + self.starting.get() + self.posted.get()
    }

    /// Holds a place for an accept about to be posted, until the accept
    /// brings a connection (`PostedAccept::accepted`) or the guard is
    /// dropped (it brought none: the place is free again).
    pub fn post_accept(self: &Rc<Self>) -> PostedAccept {
        self.posted.set(self.posted.get() + 1);
        PostedAccept {
            connections: self.clone(),
            passed_on: false,
        }
    }

    fn wake_waiters(&self) {
        if !self.freed.is_empty() {
            self.freed.wake_all();
        }
    }

    /// Resolves when a connection ends (or spuriously): check again then.
    pub fn freed(&self) -> NextWake<'_> {
        self.freed.wait()
    }
}

/// A place under the cap held by an accept in flight.
pub struct PostedAccept {
    connections: Rc<Connections>,
    /// Set by `accepted`: the place passed to a connection.
    passed_on: bool,
}

impl PostedAccept {
    /// The accept brought a connection: its place passes to the connection,
    /// whose task counts it as open when it starts. Nobody is woken, as
    /// nothing was freed.
    pub fn accepted(mut self) {
        let starting = &self.connections.starting;
        starting.set(starting.get() + 1);
        self.passed_on = true;
    }
}

impl Drop for PostedAccept {
    /// Without `accepted`, the accept ended without a connection (cancelled,
    /// out of descriptors): the place is free, so loops waiting at the cap
    /// look again now rather than at their next poll.
    fn drop(&mut self) {
        let connections = &self.connections;
        connections.posted.set(connections.posted.get() - 1);
        if !self.passed_on {
            connections.wake_waiters();
        }
    }
}

/// Counts a client connection for as long as it is alive. Holds the count
/// itself, not the generation, so the connection may move to a newer one.
pub struct ConnectionGuard(Rc<Connections>);

impl ConnectionGuard {
    pub fn new(ctx: &WorkerCtx) -> Self {
        let connections = &ctx.connections;
        connections.open.set(connections.open.get() + 1);
        let starting = connections.starting.get();
        connections.starting.set(starting.saturating_sub(1));
        ctx.stats.connection_accepted();
        ConnectionGuard(connections.clone())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let connections = &self.0;
        connections.open.set(connections.open.get() - 1);
        connections.wake_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Polls `freed()` once, so a waker is registered; returns its count.
    /// An accept loop's wait at the cap, registered; it waits as long as
    /// the returned wait lives (a dropped one takes its waker back).
    fn wait_at_the_cap(connections: &Connections) -> (NextWake<'_>, Arc<CountWakes>) {
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut wait = connections.freed();
        assert!(std::pin::Pin::new(&mut wait)
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        (wait, wakes)
    }

    #[test]
    fn an_accept_that_brings_no_connection_frees_its_place_and_wakes_the_waiting_loops() {
        let connections = Rc::new(Connections::default());
        let place = connections.post_accept();
        assert_eq!(connections.held(), 1);
        let (_waiting, wakes) = wait_at_the_cap(&connections);
        drop(place);
        assert_eq!(connections.held(), 0);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_accept_that_brings_a_connection_passes_its_place_on_and_wakes_nobody() {
        let connections = Rc::new(Connections::default());
        let place = connections.post_accept();
        let (_waiting, wakes) = wait_at_the_cap(&connections);
        place.accepted();
        assert_eq!(connections.held(), 1);
        assert_eq!(connections.starting.get(), 1);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
        assert_eq!(
            Rc::strong_count(&connections),
            1,
            "the guard's count is given back"
        );
    }
}
