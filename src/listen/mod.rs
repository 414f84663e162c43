//! Listening sockets: one per worker per bind address, all on the same port
//! with SO_REUSEPORT, so the kernel spreads new connections over the workers
//! and no accept queue is shared between threads. The main thread keeps a
//! duplicate of every socket (`table`) so that reloads can tell which
//! listeners are kept, and a binary upgrade can hand them all over.

pub mod inherit;
pub mod table;

mod info;
pub use info::ListenerInfo;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::config::Plan;

pub struct Bound {
    /// Index of the `[[listener]]` in the plan.
    pub index: usize,
    pub name: String,
    /// The address actually bound (port 0 resolved).
    pub addr: SocketAddr,
    pub socket: TcpListener,
    /// Set on listeners that terminate TLS.
    pub tls: Option<Arc<crate::tls::ServerTls>>,
}

/// A socket for each worker on each configured address.
pub struct Listeners {
    /// The sockets of each worker.
    pub per_worker: Vec<Vec<Bound>>,
    /// The main thread's copies, and what each listener is bound to.
    pub table: table::ListenerTable,
}

/// Binds every listener address once per worker.
pub fn bind_all(plan: &Plan, workers: usize) -> Result<Listeners, String> {
    let mut per_worker: Vec<Vec<Bound>> = (0..workers).map(|_| Vec::new()).collect();
    let mut entries = Vec::new();
    for (index, listener) in plan.listeners.iter().enumerate() {
        for &configured in &listener.addrs {
            let entry = table::Entry::bind(&listener.name, configured, workers, plan.backlog)?;
            for (mine, theirs) in per_worker
                .iter_mut()
                .zip(entry.bounds(workers, index, listener)?)
            {
                mine.extend(theirs);
            }
            entries.push(entry);
        }
    }
    Ok(Listeners {
        per_worker,
        table: table::ListenerTable::new(entries),
    })
}

pub fn bind_one(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        // Lets "0.0.0.0:80" and "[::]:80" be configured side by side.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    set_inherited_options(SockRef::from(&socket))?;
    Ok(socket.into())
}

/// Sets on a listening socket what every connection accepted from it
/// inherits, which saves a system call per connection: `TCP_NODELAY`, and
/// `TCP_QUICKACK` off (set once listening: `listen` resets it), so the
/// kernel holds the ACK of a request back (up to its delayed-ACK timer)
/// instead of sending one at once, and the response carries it — one
/// segment fewer per new connection, which on loopback the client pays for
/// (HAProxy's `tcp-smart-accept`). Also set on sockets a binary upgrade
/// takes over, which an older tern may have bound without them.
pub fn set_inherited_options(listener: SockRef<'_>) -> io::Result<()> {
    listener.set_nodelay(true)?;
    listener.set_quickack(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bound_listener_holds_acks_back_for_the_response_to_carry() {
        let listener =
            super::bind_one("127.0.0.1:0".parse().expect("an address"), 16).expect("bound");
        let socket = socket2::SockRef::from(&listener);
        assert!(socket.nodelay().expect("TCP_NODELAY"));
        // Read back after `listen`, which would have reset it.
        assert!(!socket.quickack().expect("TCP_QUICKACK"));
    }
}
