//! One worker's view of the upstream servers: requests in flight per server
//! (for least_conn, random_two and max_connections), passive health marks,
//! and each backend's balancing state. Plain `Cell`s: one thread only.

use std::cell::Cell;
use std::time::Instant;

use super::balance::BalanceState;
use super::queue::Waiters;
use super::rng::Rng;
use crate::config::{Backend, Plan, Server};

pub struct WorkerUpstreams {
    /// Per `Server::id`: requests in flight on this worker.
    active: Vec<Cell<u32>>,
    /// Per `Server::id`: this worker's share of `max_connections`.
    limit: Vec<u32>,
    /// Per `Server::id`: consecutive failures seen (passive checks).
    failures: Vec<Cell<u32>>,
    /// Per `Server::id`: marked down by passive checks until then.
    down_until: Vec<Cell<Option<Instant>>>,
    /// Per backend.
    pub balance: Vec<BalanceState>,
    pub waiters: Vec<Waiters>,
    pub rng: Rng,
}

impl WorkerUpstreams {
    pub fn new(plan: &Plan, worker: usize) -> Self {
        let servers = || plan.backends.iter().flat_map(|b| b.servers.iter());
        let mut limit = vec![u32::MAX; plan.server_count];
        for server in servers() {
            if let Some(max) = server.max_connections {
                // HAProxy's maxconn is per process; here each worker takes
                // its share, rounded up (see the README).
                limit[server.id] = max.div_ceil(plan.worker_count.max(1) as u32);
            }
        }
        WorkerUpstreams {
            active: (0..plan.server_count).map(|_| Cell::new(0)).collect(),
            limit,
            failures: (0..plan.server_count).map(|_| Cell::new(0)).collect(),
            down_until: (0..plan.server_count).map(|_| Cell::new(None)).collect(),
            balance: plan
                .backends
                .iter()
                .map(|b| BalanceState::new(&b.servers, worker))
                .collect(),
            waiters: plan.backends.iter().map(|_| Waiters::default()).collect(),
            rng: Rng::seeded(worker),
        }
    }

    /// Up by the active checks and not marked down by this worker.
    pub fn is_live(&self, plan: &Plan, server: &Server) -> bool {
        plan.health.is_up(server.health) && !self.passively_down(server.id)
    }

    fn passively_down(&self, id: usize) -> bool {
        let Some(cell) = self.down_until.get(id) else {
            return false;
        };
        match cell.get() {
            None => false,
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                cell.set(None);
                false
            }
        }
    }

    /// `backend_up`: some server of the backend (primary or backup) is live.
    pub fn backend_live(&self, plan: &Plan, backend: &Backend) -> bool {
        backend
            .servers
            .iter()
            .any(|s| s.weight > 0 && self.is_live(plan, s))
    }

    pub fn load(&self, id: usize) -> u32 {
        self.active.get(id).map_or(0, Cell::get)
    }

    pub fn has_slot(&self, id: usize) -> bool {
        self.load(id) < self.limit.get(id).copied().unwrap_or(u32::MAX)
    }

    pub fn begin(&self, id: usize) {
        if let Some(active) = self.active.get(id) {
            active.set(active.get() + 1);
        }
    }

    pub fn end(&self, id: usize, backend: usize) {
        if let Some(active) = self.active.get(id) {
            active.set(active.get().saturating_sub(1));
        }
        if let Some(waiters) = self.waiters.get(backend) {
            waiters.wake_all();
        }
    }

    /// A connect failure or a 5xx (passive checks, when configured).
    pub fn note_failure(&self, backend: &Backend, server: &Server) {
        let Some(passive) = backend.passive else {
            return;
        };
        let Some(failures) = self.failures.get(server.id) else {
            return;
        };
        failures.set(failures.get() + 1);
        if failures.get() >= passive.failures {
            failures.set(0);
            self.down_until[server.id].set(Some(Instant::now() + passive.down_for));
            crate::log::warn(format_args!(
                "server {}/{} marked down for {:?} after {} failures in a row (passive check)",
                backend.name, server.label, passive.down_for, passive.failures
            ));
        }
    }

    pub fn note_success(&self, server: &Server) {
        if let Some(failures) = self.failures.get(server.id) {
            failures.set(0);
        }
    }
}

/// Counts a request as in flight on a server until dropped; reserved
/// before connecting so that concurrent picks see it.
pub struct InFlight<'a> {
    upstreams: &'a WorkerUpstreams,
    /// u32s: held by every request in flight, so kept small.
    server_id: u32,
    backend: u32,
}

impl<'a> InFlight<'a> {
    pub fn new(upstreams: &'a WorkerUpstreams, server_id: usize, backend: usize) -> Self {
        upstreams.begin(server_id);
        InFlight {
            upstreams,
            server_id: server_id as u32,
            backend: backend as u32,
        }
    }

    /// `Server::id` of the server counted.
    pub fn server_id(&self) -> usize {
        self.server_id as usize
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.upstreams
            .end(self.server_id as usize, self.backend as usize);
    }
}
