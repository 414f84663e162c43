//! One worker's view of the upstream servers: requests in flight per server
//! (for least_conn and random_two), passive health marks, and each
//! backend's balancing state. Plain `Cell`s: one thread only. Servers'
//! `max_connections` hold for the process: see `limit`.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use super::backend::{Backend, Server};
use super::balance::BalanceState;
use super::health::Health;
use super::limit::ServerSlots;
use super::rng::Rng;

pub struct WorkerUpstreams {
    /// Per `Server::id`: requests in flight on this worker.
    active: Vec<Cell<u32>>,
    /// Slots of servers with `max_connections`, shared by every worker.
    slots: Arc<ServerSlots>,
    /// Per `Server::id`: consecutive failures seen (passive checks).
    failures: Vec<Cell<u32>>,
    /// Per `Server::id`: marked down by passive checks until then.
    down_until: Vec<Cell<Option<Instant>>>,
    /// Per backend.
    pub balance: Vec<BalanceState>,
    pub rng: Rng,
}

impl WorkerUpstreams {
    /// For `server_count` servers (ids `0..server_count`) in `backends`.
    pub fn new(
        backends: &[Backend],
        server_count: usize,
        slots: Arc<ServerSlots>,
        worker: usize,
    ) -> Self {
        WorkerUpstreams {
            active: (0..server_count).map(|_| Cell::new(0)).collect(),
            slots,
            failures: (0..server_count).map(|_| Cell::new(0)).collect(),
            down_until: (0..server_count).map(|_| Cell::new(None)).collect(),
            balance: backends
                .iter()
                .map(|b| BalanceState::new(&b.servers, worker))
                .collect(),
            rng: Rng::seeded(worker),
        }
    }

    /// Up by the active checks and not marked down by this worker.
    pub fn is_live(&self, health: &Health, server: &Server) -> bool {
        health.is_up(server.health) && !self.passively_down(server.id)
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
    pub fn backend_live(&self, health: &Health, backend: &Backend) -> bool {
        backend
            .servers
            .iter()
            .any(|s| s.weight > 0 && self.is_live(health, s))
    }

    pub fn load(&self, id: usize) -> u32 {
        self.active.get(id).map_or(0, Cell::get)
    }

    /// The server has a free slot under its `max_connections` (for the
    /// whole process), or no limit.
    pub fn has_slot(&self, id: usize) -> bool {
        self.slots.has_room(id)
    }

    /// Takes a slot of the server (always granted without a limit); false
    /// when another request took the last one first.
    pub fn take_slot(&self, id: usize) -> bool {
        self.slots.try_take(id)
    }

    pub fn slots(&self) -> &ServerSlots {
        &self.slots
    }

    pub fn begin(&self, id: usize) {
        if let Some(active) = self.active.get(id) {
            active.set(active.get() + 1);
        }
    }

    /// A request that held a slot (`take_slot`, or handed one) ends.
    pub fn end(&self, id: usize) {
        if let Some(active) = self.active.get(id) {
            active.set(active.get().saturating_sub(1));
        }
        self.slots.release(id);
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

/// Counts a request as in flight on a server until dropped, and holds its
/// slot (taken with `take_slot`, or handed over from the queue); made
/// before connecting so that concurrent picks see it.
pub struct InFlight<'a> {
    upstreams: &'a WorkerUpstreams,
    /// A u32: held by every request in flight, so kept small.
    server_id: u32,
}

impl<'a> InFlight<'a> {
    /// `server_id`'s slot must be held already.
    pub fn new(upstreams: &'a WorkerUpstreams, server_id: usize) -> Self {
        upstreams.begin(server_id);
        InFlight {
            upstreams,
            server_id: server_id as u32,
        }
    }

    /// `Server::id` of the server counted.
    pub fn server_id(&self) -> usize {
        self.server_id as usize
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.upstreams.end(self.server_id as usize);
    }
}
