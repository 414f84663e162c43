//! What a new connection goes through before its first request is read:
//! the PROXY header on `accept_proxy` listeners (which decides who the
//! client is), then the listener's `max_connections_per_client`. Listeners
//! with neither do no work here.

use std::net::SocketAddr;

use monoio::net::TcpStream;

use std::time::Duration;

use crate::config::{ListenerPlan, Plan};
use crate::limits::ConnSlot;

pub use crate::limits::ConnSlot as Slot;

/// Whether connections to this listener have anything to go through.
pub fn needed(plan: &Plan, listener: usize) -> bool {
    plan.listeners
        .get(listener)
        .is_some_and(|l| l.accept_proxy.is_some() || l.conn_limit.is_some())
}

/// A connection let in.
pub struct Admitted {
    pub stream: TcpStream,
    /// The client: the peer, or the one its PROXY header names.
    pub client: SocketAddr,
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
            client: peer,
            slot: None,
        });
    };
    let client = client(&stream, peer, listener, plan.client_timeouts.header).await?;
    let slot = match &listener.conn_limit {
        None => None,
        Some(limit) => match limit.enter(client.ip()) {
            Some(slot) => Some(slot),
            None => {
                crate::log::debug(format_args!(
                    "closed a connection from {client} on listener {}: over max_connections_per_client",
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

/// Who the connection is from: the peer, or on an `accept_proxy` listener
/// and from an address in `proxy_from`, the client its PROXY header names.
/// `None` when such a peer sends no valid header.
async fn client(
    stream: &TcpStream,
    peer: SocketAddr,
    listener: &ListenerPlan,
    header_timeout: Duration,
) -> Option<SocketAddr> {
    let Some(from) = &listener.accept_proxy else {
        return Some(peer);
    };
    if !from.iter().any(|range| range.contains(peer.ip())) {
        return Some(peer);
    }
    match crate::proxy_protocol::accept::read_header(stream, header_timeout).await {
        Ok(addresses) => Some(addresses.map_or(peer, |a| a.source)),
        Err(why) => {
            crate::log::debug(format_args!(
                "closed a connection from {peer} on listener {}: {why}",
                listener.name
            ));
            None
        }
    }
}
