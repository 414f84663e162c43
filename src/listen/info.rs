//! What a connection, a worker and a reload know of a listener: one
//! description for all three.

use std::net::SocketAddr;
use std::sync::Arc;

/// The listener a connection arrived on.
#[derive(Clone)]
pub struct ListenerInfo {
    /// The address the socket is bound to: how a listener is recognised
    /// across a reload.
    pub addr: SocketAddr,
    /// Index of its `[[listener]]` in the plan.
    pub index: usize,
    /// Set when the listener terminates TLS.
    pub tls: Option<Arc<crate::tls::ServerTls>>,
}
