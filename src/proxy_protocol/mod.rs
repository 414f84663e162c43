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

/// The addresses for a PROXY header to a backend's servers. A header tern
/// accepted goes on as received, source and destination (as HAProxy's
/// `accept-proxy` with `send-proxy` does): the server learns where the
/// client connected, not where the balancer did. Otherwise the client's
/// address and the one it connected to (tern's), in one family. `None`
/// unless `wanted` (some server of the backend wants a header), so other
/// backends pay nothing.
pub fn addresses_for(
    wanted: bool,
    accepted: Option<&Addresses>,
    client: SocketAddr,
    local: impl FnOnce() -> Option<SocketAddr>,
) -> Option<Box<Addresses>> {
    if !wanted {
        return None;
    }
    if let Some(accepted) = accepted {
        return Some(Box::new(*accepted));
    }
    let (source, destination) = write::of_own_connection(client, local().unwrap_or(client));
    Some(Box::new(Addresses {
        source,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(source: &str, destination: &str) -> Addresses {
        Addresses {
            source: source.parse().expect("source"),
            destination: destination.parse().expect("destination"),
        }
    }

    fn header(addresses: &Addresses) -> String {
        let mut out = Vec::new();
        write(Version::V1, addresses, &mut out);
        String::from_utf8(out).expect("v1 is text")
    }

    /// tern put its own socket address where the accepted header's
    /// destination was, and sent a TCP4 header accepted on an IPv6 socket
    /// as TCP6 (`::ffff:1.2.3.4`).
    #[test]
    fn an_accepted_header_goes_on_as_received() {
        let tern = || Some("[::1]:8080".parse().expect("local"));
        for (source, destination, line) in [
            (
                "1.2.3.4:1111",
                "5.6.7.8:443",
                "PROXY TCP4 1.2.3.4 5.6.7.8 1111 443\r\n",
            ),
            (
                "[2001:db8::7]:1111",
                "[2001:db8::1]:443",
                "PROXY TCP6 2001:db8::7 2001:db8::1 1111 443\r\n",
            ),
            (
                "[::ffff:1.2.3.4]:1111",
                "[::ffff:5.6.7.8]:443",
                "PROXY TCP6 ::ffff:1.2.3.4 ::ffff:5.6.7.8 1111 443\r\n",
            ),
        ] {
            let accepted = addrs(source, destination);
            let sent = addresses_for(true, Some(&accepted), accepted.source, tern);
            assert_eq!(sent.as_deref(), Some(&accepted));
            assert_eq!(header(&accepted), line);
        }
    }

    /// Without an accepted header: the client and tern's own address, an
    /// IPv4 client on a dual-stack socket as IPv4.
    #[test]
    fn a_connection_without_a_header_names_the_client_and_tern() {
        let client = "[::ffff:192.0.2.9]:5000".parse().expect("client");
        let local = || Some("[::ffff:127.0.0.1]:8080".parse().expect("local"));
        let sent = addresses_for(true, None, client, local).expect("wanted");
        assert_eq!(*sent, addrs("192.0.2.9:5000", "127.0.0.1:8080"));
        assert_eq!(addresses_for(false, None, client, local), None);
    }
}
