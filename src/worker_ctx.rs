//! What every connection task of one worker shares: the plan, the upstream
//! pool, the upstream state (balancing, in-flight counts, passive health),
//! the drain signal. Lives on one thread (`Rc`).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use crate::access_log::AccessLog;
use crate::admin::server_state::ServerStates;
use crate::config::Plan;
use crate::metrics::WorkerStats;
use crate::shutdown::Drain;
use crate::upstream::pool::UpstreamPool;
use crate::upstream::state::WorkerUpstreams;

pub struct WorkerCtx {
    pub id: usize,
    pub plan: Arc<Plan>,
    pub pool: UpstreamPool,
    pub upstreams: WorkerUpstreams,
    pub drain: Drain,
    /// Client connections open on this worker.
    pub connections: Cell<usize>,
    /// This worker's counters (`Rc`: each request's meter holds it).
    pub stats: Rc<WorkerStats>,
    /// Drained or disabled servers, set from the admin endpoint.
    pub server_states: Arc<ServerStates>,
    /// Per backend: a moving average of how long responses take to start,
    /// in microseconds; it decides whether waits for them are quick.
    response_wait_us: Vec<Cell<u32>>,
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
            pool: UpstreamPool::new(plan.server_count, plan.pool),
            upstreams: WorkerUpstreams::new(&plan, id),
            drain: Drain::default(),
            connections: Cell::new(0),
            stats: Rc::new(WorkerStats::new(&plan).with_access_log(AccessLog::new(plan.clone()))),
            server_states: Arc::new(ServerStates::new(plan.server_count)),
            response_wait_us: (0..plan.backends.len())
                .map(|_| Cell::new(INITIAL_RESPONSE_US))
                .collect(),
            plan,
        }
    }
}

impl WorkerCtx {
    /// `backend_up`: the backend has a live server, as this worker sees it.
    pub fn backend_live(&self, backend: usize) -> bool {
        self.plan
            .backends
            .get(backend)
            .is_some_and(|b| self.upstreams.backend_live(&self.plan, b))
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
    pub fn note_response_wait(&self, backend: usize, waited: std::time::Duration) {
        if let Some(avg) = self.response_wait_us.get(backend) {
            let sample = u32::try_from(waited.as_micros()).unwrap_or(u32::MAX);
            let old = avg.get();
            avg.set(old - old / 8 + sample / 8);
        }
    }
}

/// Counts a client connection for as long as it is alive.
pub struct ConnectionGuard<'a>(&'a WorkerCtx);

impl<'a> ConnectionGuard<'a> {
    pub fn new(ctx: &'a WorkerCtx) -> Self {
        ctx.connections.set(ctx.connections.get() + 1);
        ctx.stats.connection_accepted();
        ConnectionGuard(ctx)
    }
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
    }
}
