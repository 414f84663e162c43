//! Each worker's idle upstream connections, per server. Nothing here is
//! shared between threads. A reload gives the worker a new pool (servers
//! are numbered anew); the old one hands its idle connections, and those
//! returned to it later, to the new one for servers whose address stayed,
//! for as long as the new one lives (a weak link: an old generation must
//! not keep later ones alive, see `worker_ctx`).

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::config::PoolSettings;
use crate::proxy::conn::Conn;

/// An idle connection keeps its TLS session, if it has one, with it.
struct Idle {
    conn: Conn,
    since: Instant,
}

pub struct UpstreamPool {
    settings: PoolSettings,
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
    pub fn new(server_count: usize, settings: PoolSettings) -> Self {
        UpstreamPool {
            settings,
            idle: RefCell::new((0..server_count).map(|_| Vec::new()).collect()),
            forward: RefCell::new(None),
        }
    }

    /// Hands every idle connection to `to` (`ids`: old server id -> new id
    /// at the same address), and from now on every connection put here.
    pub fn forward_to(&self, to: &Rc<UpstreamPool>, ids: Vec<Option<usize>>) {
        let idle = std::mem::take(&mut *self.idle.borrow_mut());
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
    /// idled too long, or that the upstream closed, are discarded here.
    pub fn take(&self, server: usize) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(server)?;
        while let Some(idle) = list.pop() {
            if idle.since.elapsed() < self.settings.idle_timeout && is_quiet(&idle.conn.stream) {
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
                since: Instant::now(),
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
            if list.len() < self.settings.max_idle_per_server {
                list.push(conn);
            }
        }
    }

    /// Closes connections idle longer than the timeout, so they don't hold
    /// descriptors until the next request to their server.
    pub fn sweep(&self) {
        let limit = self.settings.idle_timeout;
        for list in self.idle.borrow_mut().iter_mut() {
            list.retain(|conn| conn.since.elapsed() < limit);
        }
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
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a valid local, on a descriptor we own.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}
