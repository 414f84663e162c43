//! Listening sockets: one per worker per bind address, all on the same port
//! with SO_REUSEPORT, so the kernel spreads new connections over the workers
//! and no accept queue is shared between threads.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Plan;

pub struct Bound {
    /// Index of the `[[listener]]` in the plan.
    pub index: usize,
    pub name: String,
    /// The address actually bound (port 0 resolved).
    pub addr: SocketAddr,
    pub socket: TcpListener,
    /// Set on listeners that terminate TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

pub struct Listeners {
    /// The sockets of each worker.
    pub per_worker: Vec<Vec<Bound>>,
    /// Every bound address with its listener's name, in config order.
    pub addresses: Vec<(String, SocketAddr)>,
}

/// Binds every listener address once per worker.
pub fn bind_all(plan: &Plan, workers: usize) -> Result<Listeners, String> {
    let mut per_worker: Vec<Vec<Bound>> = (0..workers).map(|_| Vec::new()).collect();
    let mut bound = Vec::new();
    for (index, listener) in plan.listeners.iter().enumerate() {
        for &configured in &listener.addrs {
            let mut addr = configured;
            for sockets in per_worker.iter_mut() {
                let socket = bind_one(addr, plan.backlog).map_err(|err| {
                    format!(
                        "cannot listen on {configured} (listener {}): {err}",
                        listener.name
                    )
                })?;
                // Port 0: the first bind picks the port, the others share it.
                addr = socket.local_addr().map_err(|err| err.to_string())?;
                sockets.push(Bound {
                    index,
                    name: listener.name.clone(),
                    addr,
                    socket,
                    tls: listener.tls.clone(),
                });
            }
            bound.push((listener.name.clone(), addr));
        }
    }
    Ok(Listeners {
        per_worker,
        addresses: bound,
    })
}

fn bind_one(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        // Lets "0.0.0.0:80" and "[::]:80" be configured side by side.
        socket.set_only_v6(true)?;
    }
    // Accepted sockets inherit it, which saves a system call per connection.
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}
