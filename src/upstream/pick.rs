//! Picking the server for one attempt: the sticky server if it is live,
//! else the balancer's choice among live primaries (backups only when no
//! primary is live), never one already tried, never one at its limit.

use super::backend::Backend;
use super::balance::View;
use super::health::Health;
use super::state::WorkerUpstreams;

/// Servers of one backend already tried for a request (positions; a
/// backend has at most `MAX_SERVERS`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tried([u64; 4]);

pub const MAX_SERVERS: usize = 256;

impl Tried {
    pub fn add(&mut self, pos: usize) {
        if let Some(word) = self.0.get_mut(pos / 64) {
            *word |= 1 << (pos % 64);
        }
    }

    pub fn has(&self, pos: usize) -> bool {
        self.0
            .get(pos / 64)
            .is_some_and(|word| word & (1 << (pos % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&word| word == 0)
    }
}

/// What the request brings to the choice.
#[derive(Debug, Default, Clone, Copy)]
pub struct Steer {
    /// Position named by the sticky cookie (a backend has at most
    /// `MAX_SERVERS`, so it fits; small because it is held per request).
    pub sticky: Option<u16>,
    /// Hash of the client address or path, for hashing balances.
    pub key: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Pick {
    /// Position of the server to try.
    Server(usize),
    /// Live servers remain but all are at `max_connections`: wait.
    Full,
    /// No live server left that was not tried.
    Exhausted,
}

/// `admitted`: the admin endpoint has not drained or disabled the server.
pub fn pick(
    backends: &[Backend],
    health: &Health,
    upstreams: &WorkerUpstreams,
    backend_index: usize,
    steer: Steer,
    tried: &Tried,
    admitted: &dyn Fn(usize) -> bool,
) -> Pick {
    let backend = &backends[backend_index];
    let servers = &backend.servers;
    let live = |pos: usize| admitted(servers[pos].id) && upstreams.is_live(health, &servers[pos]);
    let slot = |pos: usize| upstreams.has_slot(servers[pos].id);
    let sticky = steer.sticky.map(usize::from);
    if let Some(pos) = sticky.filter(|&p| p < servers.len() && !tried.has(p) && live(p)) {
        return if slot(pos) {
            Pick::Server(pos)
        } else {
            Pick::Full
        };
    }
    let in_rotation = |pos: usize| servers[pos].weight > 0 && live(pos);
    let backups = !(0..servers.len()).any(|p| !servers[p].backup && in_rotation(p));
    let eligible =
        |pos: usize| servers[pos].backup == backups && in_rotation(pos) && !tried.has(pos);
    if !(0..servers.len()).any(eligible) {
        return Pick::Exhausted;
    }
    let usable = |pos: usize| eligible(pos) && slot(pos);
    let load = |pos: usize| upstreams.load(servers[pos].id);
    let view = View {
        servers,
        usable: &usable,
        load: &load,
    };
    match upstreams.balance[backend_index].choose(
        backend.balance,
        &view,
        u64::from(steer.key),
        &upstreams.rng,
    ) {
        Some(pos) => Pick::Server(pos),
        None => Pick::Full,
    }
}
