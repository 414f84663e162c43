//! What a new connection goes through before its first request is read:
//! the PROXY header on `accept_proxy` listeners (which decides who the
//! client is), then the listener's `max_connections_per_client`. Listeners
//! with neither do no work here.

use std::net::SocketAddr;

use monoio::net::TcpStream;

use std::time::Duration;

use crate::config::{ListenerPlan, Plan};
use crate::limits::ConnSlot;
use crate::proxy_protocol::Addresses;

pub use crate::limits::ConnSlot as Slot;

/// Whether connections to this listener have anything to go through.
pub fn needed(plan: &Plan, listener: usize) -> bool {
    plan.listeners
        .get(listener)
        .is_some_and(|l| l.accept_proxy.is_some() || l.conn_limit.is_some())
}

/// Who a connection is from: its peer, or the client an accepted PROXY
/// header names, the header kept as received (a `send_proxy` server is
/// told its source and destination). The size of one address, the rare
/// header boxed: it is held in every connection's future.
#[derive(Debug)]
pub enum ClientAddr {
    Peer(SocketAddr),
    Proxied(Box<Addresses>),
}

impl ClientAddr {
    /// The client's address: the peer's, or the header's source.
    pub fn addr(&self) -> &SocketAddr {
        match self {
            ClientAddr::Peer(addr) => addr,
            ClientAddr::Proxied(header) => &header.source,
        }
    }

    /// The PROXY header accepted, if any.
    pub fn header(&self) -> Option<&Addresses> {
        match self {
            ClientAddr::Peer(_) => None,
            ClientAddr::Proxied(header) => Some(header),
        }
    }
}

/// A connection let in.
pub struct Admitted {
    pub stream: TcpStream,
    /// The client: the peer, or the one its PROXY header names.
    pub client: ClientAddr,
    /// Its place under the listener's connection limit, held for the
    /// connection's life.
    pub slot: Option<ConnSlot>,
}

/// Lets a new connection in, or `None` to close it.
pub async fn admit(
    stream: TcpStream,
    peer: SocketAddr,
    plan: &Plan,
    listener: usize,
) -> Option<Admitted> {
    let Some(listener) = plan.listeners.get(listener) else {
        return Some(Admitted {
            stream,
            client: ClientAddr::Peer(peer),
            slot: None,
        });
    };
    let header = header(&stream, peer, listener, plan.client_timeouts.header)
        .await
        .ok()?;
    let client = header.map_or(ClientAddr::Peer(peer), |h| ClientAddr::Proxied(Box::new(h)));
    let slot = match &listener.conn_limit {
        None => None,
        Some(limit) => match limit.enter(client.addr().ip()) {
            Some(slot) => Some(slot),
            None => {
                crate::log::debug(format_args!(
                    "closed a connection from {} on listener {}: over max_connections_per_client",
                    client.addr(),
                    listener.name
                ));
                return None;
            }
        },
    };
    Some(Admitted {
        stream,
        client,
        slot,
    })
}

/// The PROXY header of a connection to an `accept_proxy` listener from an
/// address in `proxy_from`, which names the client. `Ok(None)`: no header
/// is read (another listener, another peer), or it names no client
/// (LOCAL, UNKNOWN); `Err`: such a peer sent no valid header, and the
/// connection is to close.
async fn header(
    stream: &TcpStream,
    peer: SocketAddr,
    listener: &ListenerPlan,
    header_timeout: Duration,
) -> Result<Option<Addresses>, ()> {
    let Some(from) = &listener.accept_proxy else {
        return Ok(None);
    };
    if !from.iter().any(|range| range.contains(peer.ip())) {
        return Ok(None);
    }
    crate::proxy_protocol::accept::read_header(stream, header_timeout)
        .await
        .map_err(|why| {
            crate::log::debug(format_args!(
                "closed a connection from {peer} on listener {}: {why}",
                listener.name
            ));
        })
}
