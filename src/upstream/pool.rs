//! Each worker's idle upstream connections, per server. Nothing here is
//! shared between threads. A reload gives the worker a new pool (servers
//! are numbered anew); the old one hands its idle connections, and those
//! returned to it later, to the new one for servers whose address stayed,
//! for as long as the new one lives (a weak link: an old generation must
//! not keep later ones alive, see `worker_ctx`).
//!
//! By default the pool adapts to demand: every connection an exchange
//! gives back is kept, so the pool holds what the recent peak of
//! concurrent requests needed — no more, since a connection is only given
//! back after use — and the sweep closes those idle past `idle_timeout`.
//! A fixed per-server cap (the old default was 64) made every request
//! above it close its connection and the next one open a new one: at 1,000
//! keep-alive clients the origin's CPU per request tripled. The one bound
//! is the worker's share of the connection cap (`[server] max_connections`,
//! by default derived from the open-files limit at two descriptors per
//! client connection). Towards one server, idle and busy connections never
//! outnumber the clients that needed them, so they fit the clients' budget;
//! across several servers they can exceed it (see README, "The upstream
//! pool adapts to demand").

use std::cell::{Cell, RefCell};
use std::os::fd::AsRawFd;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::backend::PoolSettings;
use crate::conn::Conn;
use crate::timer::last_tick;

/// Idle connections closed when a connect finds no descriptor left: room
/// for the one that failed and a few more, not the whole pool. (Not for an
/// accept: a client let in that way would find no upstream connection.)
pub const SHED_WHEN_EXHAUSTED: usize = 16;

/// An idle connection keeps its TLS session, if it has one, with it.
struct Idle {
    conn: Conn,
    since: Instant,
}

pub struct UpstreamPool {
    settings: PoolSettings,
    /// Most idle connections kept per server.
    per_server: usize,
    /// Most idle connections kept over all servers: the worker's share of
    /// the connection cap.
    total: usize,
    /// Idle connections kept now, over all servers.
    kept: Cell<usize>,
    /// Indexed by `Server::id`; most recently used last.
    idle: RefCell<Vec<Vec<Idle>>>,
    /// Set once a reload replaced this pool.
    forward: RefCell<Option<Forward>>,
}

/// Where a replaced pool sends connections: the new pool, and per old
/// server id the new id of the server at the same address.
struct Forward {
    to: Weak<UpstreamPool>,
    ids: Vec<Option<usize>>,
}

impl UpstreamPool {
    /// `total`: the most idle connections kept over all servers (the
    /// worker's share of the connection cap).
    pub fn new(server_count: usize, settings: PoolSettings, total: usize) -> Self {
        UpstreamPool {
            settings,
            per_server: settings.max_idle_per_server.unwrap_or(total),
            total,
            kept: Cell::new(0),
            idle: RefCell::new((0..server_count).map(|_| Vec::new()).collect()),
            forward: RefCell::new(None),
        }
    }

    /// Hands every idle connection to `to` (`ids`: old server id -> new id
    /// at the same address), and from now on every connection put here.
    pub fn forward_to(&self, to: &Rc<UpstreamPool>, ids: Vec<Option<usize>>) {
        let idle = std::mem::take(&mut *self.idle.borrow_mut());
        self.kept.set(0);
        for (old, list) in idle.into_iter().enumerate() {
            if let Some(Some(new)) = ids.get(old) {
                for conn in list {
                    to.keep(*new, conn);
                }
            }
        }
        *self.forward.borrow_mut() = Some(Forward {
            to: Rc::downgrade(to),
            ids,
        });
    }

    /// A live idle connection to `server`, if there is one. Connections that
    /// idled too long, or that have anything to read, are discarded here.
    ///
    /// Every connection taken gets a peek (a system call), however recently
    /// it came back: an upstream that wrote past the end of its last
    /// response (a body after a HEAD, a 204 or a 304, a Content-Length that
    /// undercounts) left bytes that the next request on the connection
    /// would read as its response, another client's answer or a forged one
    /// (RFC 9112 §6.3: such data must not be forwarded as a response). nginx
    /// and HAProxy drop an idle connection that becomes readable for the
    /// same reason. Bytes that arrive after the peek can't be told from the
    /// answer; that race is every HTTP/1.1 pool's.
    pub fn take(&self, server: usize) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(server)?;
        while let Some(idle) = list.pop() {
            self.kept.set(self.kept.get() - 1);
            let idled = last_tick() - idle.since;
            if idled < self.settings.idle_timeout && is_quiet(&idle.conn.stream) {
                return Some(idle.conn);
            }
        }
        None
    }

    /// Keeps `conn` for reuse if there is room.
    pub fn put(&self, server: usize, conn: Conn) {
        self.keep(
            server,
            Idle {
                conn,
                since: last_tick(),
            },
        );
    }

    fn keep(&self, server: usize, conn: Idle) {
        if let Some(forward) = &*self.forward.borrow() {
            // A pool that is gone (its generation was replaced and freed)
            // takes nothing: the connection closes.
            if let (Some(Some(new)), Some(to)) = (forward.ids.get(server), forward.to.upgrade()) {
                to.keep(*new, conn);
            }
            return;
        }
        let mut idle = self.idle.borrow_mut();
        if let Some(list) = idle.get_mut(server) {
            if list.len() < self.per_server && self.kept.get() < self.total {
                list.push(conn);
                self.kept.set(self.kept.get() + 1);
            }
        }
    }

    /// Closes up to `count` idle connections, least recently used first
    /// over all servers; returns how many. Out of descriptors, an idle
    /// connection is the cheapest one to give up: kept for one backend, it
    /// would otherwise make another's requests fail to connect (HAProxy
    /// bounds its idle connections by a share of its descriptors for the
    /// same reason). Their descriptors are closed by the ring when it next
    /// submits, not before this returns.
    pub fn shed(&self, count: usize) -> usize {
        let mut idle = self.idle.borrow_mut();
        let mut shed = 0;
        while shed < count {
            let oldest = (idle.iter().enumerate())
                .filter_map(|(server, list)| Some((list.first()?.since, server)))
                .min();
            let Some((_, server)) = oldest else { break };
            idle[server].remove(0);
            shed += 1;
        }
        self.kept.set(self.kept.get() - shed);
        shed
    }

    /// Closes connections idle longer than the timeout, so they don't hold
    /// descriptors until the next request to their server.
    pub fn sweep(&self) {
        let limit = self.settings.idle_timeout;
        let mut kept = 0;
        for list in self.idle.borrow_mut().iter_mut() {
            list.retain(|conn| last_tick() - conn.since < limit);
            kept += list.len();
        }
        self.kept.set(kept);
    }

    /// Idle connections kept per server (for the metrics).
    pub fn idle_counts(&self) -> Vec<u64> {
        self.idle.borrow().iter().map(|l| l.len() as u64).collect()
    }

    pub fn sweep_interval(&self) -> Duration {
        (self.settings.idle_timeout / 2).max(Duration::from_millis(100))
    }
}

/// An idle upstream connection must have nothing to read: EOF means the
/// upstream closed it, and unexpected bytes mean it can't be trusted.
fn is_quiet(stream: &monoio::net::TcpStream) -> bool {
    crate::peek::peek(stream.as_raw_fd()) == crate::peek::Peeked::Nothing
}
