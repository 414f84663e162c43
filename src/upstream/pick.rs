//! Picking the server for one attempt: the sticky server if it is live,
//! else the balancer's choice among live primaries (backups only when no
//! primary is live), never one already tried, never one at its limit.

use super::backend::{Backend, Server};
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

/// What a server is chosen for, and from what: the request's backend,
/// steering and servers tried, the worker's view of the servers.
pub struct Choosing<'a> {
    pub backends: &'a [Backend],
    pub health: &'a Health,
    pub upstreams: &'a WorkerUpstreams,
    pub backend_index: usize,
    pub steer: Steer,
    pub tried: &'a Tried,
    /// The admin endpoint has not drained or disabled the server.
    pub admitted: &'a dyn Fn(usize) -> bool,
}

impl<'a> Choosing<'a> {
    fn rules(&self) -> Rules<'a> {
        let servers = &self.backends[self.backend_index].servers;
        Rules::new(
            servers,
            self.health,
            self.upstreams,
            self.steer,
            self.tried,
            self.admitted,
        )
    }
}

/// The server to try for `choosing` now, or why there is none.
pub fn pick(choosing: &Choosing) -> Pick {
    let Choosing {
        backends,
        upstreams,
        backend_index,
        steer,
        ..
    } = *choosing;
    let backend = &backends[backend_index];
    let servers = &backend.servers;
    let rules = choosing.rules();
    let slot = |pos: usize| upstreams.has_slot(servers[pos].id);
    if let Some(pos) = rules.sticky {
        return if slot(pos) {
            Pick::Server(pos)
        } else {
            Pick::Full
        };
    }
    if !(0..servers.len()).any(|pos| rules.allows(pos)) {
        return Pick::Exhausted;
    }
    let usable = |pos: usize| rules.allows(pos) && slot(pos);
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

/// Whether `pick` could choose the server at `position` for this request
/// now, its slot aside. The queue hands a freed slot to the first waiter
/// without knowing what that waiter may use (the passive marks are the
/// waiter's worker's, `tried` is the request's), so the waiter asks this
/// on waking: a server down, drained, tried, a backup while a primary is
/// live or of weight 0 (sticky requests aside) is not for it.
pub fn allows(choosing: &Choosing, position: usize) -> bool {
    choosing.rules().allows(position)
}

/// Which servers a request may be sent to now, slots aside: its sticky
/// server alone when that is live and not tried; else the live servers in
/// rotation (weight above 0) not tried, primaries, or backups when no
/// primary is live.
struct Rules<'a> {
    servers: &'a [Server],
    health: &'a Health,
    upstreams: &'a WorkerUpstreams,
    tried: &'a Tried,
    admitted: &'a dyn Fn(usize) -> bool,
    sticky: Option<usize>,
    /// No primary is live: backups take the traffic.
    backups: bool,
}

impl<'a> Rules<'a> {
    fn new(
        servers: &'a [Server],
        health: &'a Health,
        upstreams: &'a WorkerUpstreams,
        steer: Steer,
        tried: &'a Tried,
        admitted: &'a dyn Fn(usize) -> bool,
    ) -> Self {
        let mut rules = Rules {
            servers,
            health,
            upstreams,
            tried,
            admitted,
            sticky: None,
            backups: false,
        };
        let sticky = steer.sticky.map(usize::from);
        rules.sticky = sticky.filter(|&p| p < servers.len() && !tried.has(p) && rules.live(p));
        if rules.sticky.is_none() {
            rules.backups = !(0..servers.len()).any(|p| !servers[p].backup && rules.in_rotation(p));
        }
        rules
    }

    /// Admitted by the admin endpoint and up by the health checks.
    fn live(&self, pos: usize) -> bool {
        let server = &self.servers[pos];
        (self.admitted)(server.id) && self.upstreams.is_live(self.health, server)
    }

    fn in_rotation(&self, pos: usize) -> bool {
        self.servers[pos].weight > 0 && self.live(pos)
    }

    fn allows(&self, pos: usize) -> bool {
        match self.sticky {
            Some(sticky) => pos == sticky,
            None => {
                self.servers
                    .get(pos)
                    .is_some_and(|s| s.backup == self.backups)
                    && self.in_rotation(pos)
                    && !self.tried.has(pos)
            }
        }
    }
}
