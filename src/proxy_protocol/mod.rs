//! The PROXY protocol (HAProxy's, versions 1 and 2): a header a TCP
//! balancer puts before a connection's first byte to say whose connection
//! it is. tern reads it on listeners with `accept_proxy` (`accept`), and
//! writes it to servers with `send_proxy` (`write`).
//!
//! The parser is written here rather than taken from a crate: it is small,
//! it runs on bytes from the network before anything else, and it must
//! never read past the header (the bytes after it belong to HTTP or TLS).
//! `parse` is pure and total, so a fuzz target can call it directly.

pub mod accept;
mod parse;
mod write;

use std::net::SocketAddr;

pub use parse::{parse, Parsed, MAX_HEADER};
pub use write::{write, write_local};

/// `send_proxy = "v1" | "v2"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Version {
    V1,
    V2,
}

/// The addresses a header carries: the client's, and the one it connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    pub source: SocketAddr,
    pub destination: SocketAddr,
}

/// The addresses for a PROXY header to a backend's servers: the client's
/// (as tern knows it, so a header tern received is passed on) and the one
/// it connected to. `None` unless `wanted` (some server of the backend
/// wants a header), so other backends pay nothing.
pub fn addresses_for(
    wanted: bool,
    client: SocketAddr,
    local: impl FnOnce() -> Option<SocketAddr>,
) -> Option<Box<Addresses>> {
    if !wanted {
        return None;
    }
    let destination = local().unwrap_or(client);
    Some(Box::new(Addresses {
        source: client,
        destination,
    }))
}

/// Writes the header for `client` as a new upstream connection's first bytes.
pub async fn send(
    stream: &mut monoio::net::TcpStream,
    version: Version,
    client: &Addresses,
) -> std::io::Result<()> {
    use monoio::io::AsyncWriteRentExt;
    let mut header = Vec::with_capacity(64);
    write(version, client, &mut header);
    let (written, _) = stream.write_all(header).await;
    written.map(|_| ())
}
