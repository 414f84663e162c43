//! What every connection task of one worker shares: the plan, the upstream
//! pool, the balancer state, the drain signal. Lives on one thread (`Rc`).

use std::cell::Cell;
use std::sync::Arc;

use crate::config::Plan;
use crate::shutdown::Drain;
use crate::upstream::balance::RoundRobin;
use crate::upstream::pool::UpstreamPool;

pub struct WorkerCtx {
    pub id: usize,
    pub plan: Arc<Plan>,
    pub pool: UpstreamPool,
    pub balancer: RoundRobin,
    pub drain: Drain,
    /// Client connections open on this worker.
    pub connections: Cell<usize>,
}

impl WorkerCtx {
    pub fn new(id: usize, plan: Arc<Plan>) -> Self {
        WorkerCtx {
            id,
            pool: UpstreamPool::new(plan.server_count, plan.pool),
            balancer: RoundRobin::new(plan.backends.len()),
            drain: Drain::default(),
            connections: Cell::new(0),
            plan,
        }
    }
}

/// Counts a client connection for as long as it is alive.
pub struct ConnectionGuard<'a>(&'a WorkerCtx);

impl<'a> ConnectionGuard<'a> {
    pub fn new(ctx: &'a WorkerCtx) -> Self {
        ctx.connections.set(ctx.connections.get() + 1);
        ConnectionGuard(ctx)
    }
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
    }
}
