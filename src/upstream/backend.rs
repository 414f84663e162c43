//! What tern knows of a backend and its servers once a config is planned:
//! built by `config` (as `route` types are), read by everything here.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::balance::Balance;
use super::health::Passive;
use super::sticky::Sticky;

#[derive(Debug)]
pub struct Backend {
    pub name: String,
    pub servers: Vec<Server>,
    pub timeouts: UpstreamTimeouts,
    pub balance: Balance,
    /// Connect attempts after a failed one.
    pub retries: u32,
    pub redispatch: bool,
    pub sticky: Option<Sticky>,
    pub passive: Option<Passive>,
    /// Set when the servers speak TLS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Some server has `send_proxy`.
    pub sends_proxy: bool,
}

#[derive(Debug)]
pub struct Server {
    /// Index over all servers of the plan.
    pub id: usize,
    pub address: SocketAddr,
    /// The address as written, for logs and reverse rewriting.
    pub label: String,
    pub weight: u32,
    pub max_connections: Option<u32>,
    /// Sticky-session name: as configured, else `s1`, `s2`, ... by position.
    pub route: String,
    pub backup: bool,
    /// Index into `Plan::health`: one per distinct address.
    pub health: usize,
    /// Hash of `label`, for rendezvous hashing.
    pub hash: u64,
    /// The TLS name of the server, on a TLS backend.
    pub tls_name: Option<rustls::pki_types::ServerName<'static>>,
    /// `send_proxy`: a PROXY header starts each connection (and check).
    /// Such connections are never pooled: the header names one client.
    pub send_proxy: Option<crate::proxy_protocol::Version>,
    /// Found through DNS (`discovery`), not written as an address.
    pub discovered: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct UpstreamTimeouts {
    pub connect: Duration,
    pub server: Duration,
    pub tunnel: Duration,
    /// Waiting for a server under `max_connections`, then 503.
    pub queue: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// `None`: bounded only by each worker's share of the descriptors
    /// (`UpstreamPool::idle_cap`).
    pub max_idle_per_server: Option<usize>,
    pub idle_timeout: Duration,
}
