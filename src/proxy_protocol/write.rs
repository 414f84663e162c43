//! Writing a PROXY header to a server (`send_proxy`).

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use super::parse::V2_SIGNATURE;
use super::{Addresses, Version};

/// The header for a connection made on behalf of a client, with the
/// addresses as given (`addresses_for` decides them). Two families, which
/// a header needs one of, go as IPv6, the IPv4 one mapped.
pub fn write(version: Version, addresses: &Addresses, out: &mut Vec<u8>) {
    let (source, destination) = one_family(addresses.source, addresses.destination);
    match version {
        Version::V1 => {
            let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
            // Writing into a Vec cannot fail.
            let _ = write!(
                out,
                "PROXY {family} {} {} {} {}\r\n",
                source.ip(),
                destination.ip(),
                source.port(),
                destination.port()
            );
        }
        Version::V2 => {
            out.extend_from_slice(V2_SIGNATURE);
            out.push(0x21); // version 2, PROXY
            match (source.ip(), destination.ip()) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    out.extend_from_slice(&[0x11, 0, 12]);
                    out.extend_from_slice(&s.octets());
                    out.extend_from_slice(&d.octets());
                }
                (s, d) => {
                    out.extend_from_slice(&[0x21, 0, 36]);
                    out.extend_from_slice(&v6(s));
                    out.extend_from_slice(&v6(d));
                }
            }
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
        }
    }
}

/// The header of a connection tern makes for itself (a health check):
/// v1 `UNKNOWN`, v2 `LOCAL`. The server then uses the connection's own
/// addresses.
pub fn write_local(version: Version, out: &mut Vec<u8>) {
    match version {
        Version::V1 => out.extend_from_slice(b"PROXY UNKNOWN\r\n"),
        Version::V2 => {
            out.extend_from_slice(V2_SIGNATURE);
            out.extend_from_slice(&[0x20, 0x00, 0, 0]);
        }
    }
}

/// The addresses of a connection tern accepted itself: an IPv4 client on
/// a dual-stack socket shows as IPv4-mapped IPv6 on both ends, and goes as
/// the IPv4 it is (TCP4); a family each (which a socket can't have) as IPv6.
pub(super) fn of_own_connection(client: SocketAddr, local: SocketAddr) -> (SocketAddr, SocketAddr) {
    let unmapped = |a: SocketAddr| match a.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(a, |v4| SocketAddr::new(v4.into(), a.port())),
        IpAddr::V4(_) => a,
    };
    one_family(unmapped(client), unmapped(local))
}

/// Addresses of one family as they are; of two, both as IPv6.
fn one_family(source: SocketAddr, destination: SocketAddr) -> (SocketAddr, SocketAddr) {
    if source.is_ipv4() == destination.is_ipv4() {
        return (source, destination);
    }
    let mapped = |a: SocketAddr| SocketAddr::new(IpAddr::V6(v6_of(a.ip())), a.port());
    (mapped(source), mapped(destination))
}

fn v6_of(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn v6(ip: IpAddr) -> [u8; 16] {
    v6_of(ip).octets()
}
