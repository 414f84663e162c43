//! Reading a PROXY header, v1 (text) or v2 (binary), from the first bytes
//! of a connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::Addresses;

/// The v2 signature: it can't start an HTTP request or a TLS record.
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest v1 line, CRLF included (the specification's bound).
const V1_MAX: usize = 107;
/// The longest v2 header accepted: the fixed 16 bytes and room for TLVs
/// (HAProxy's own default is smaller than a buffer too).
pub const MAX_HEADER: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed; every byte so far belongs to the header.
    Incomplete,
    /// Not a valid header.
    Invalid(&'static str),
    /// A header of `len` bytes. `None`: it carries no client (v1
    /// `UNKNOWN`, v2 `LOCAL`, or a family other than TCP), so the
    /// connection's own addresses stand.
    Done {
        len: usize,
        addresses: Option<Addresses>,
    },
}

/// Parses the header at the start of `bytes`. Never looks past its end,
/// so `Incomplete` means all of `bytes` is header.
pub fn parse(bytes: &[u8]) -> Parsed {
    if bytes.len() >= V1_PREFIX.len() && bytes.starts_with(V1_PREFIX) {
        return parse_v1(bytes);
    }
    if bytes.len() >= V2_SIGNATURE.len() && bytes.starts_with(V2_SIGNATURE) {
        return parse_v2(bytes);
    }
    if V1_PREFIX.starts_with(bytes) || V2_SIGNATURE.starts_with(bytes) {
        return Parsed::Incomplete;
    }
    Parsed::Invalid("no PROXY protocol header")
}

/// `PROXY TCP4 src dst sport dport\r\n`, `PROXY TCP6 ...` or
/// `PROXY UNKNOWN ...\r\n`.
fn parse_v1(bytes: &[u8]) -> Parsed {
    let window = &bytes[..bytes.len().min(V1_MAX)];
    let Some(lf) = memchr::memchr(b'\n', window) else {
        return if bytes.len() >= V1_MAX {
            Parsed::Invalid("v1 header longer than 107 bytes")
        } else {
            Parsed::Incomplete
        };
    };
    if lf == 0 || window[lf - 1] != b'\r' {
        return Parsed::Invalid("v1 header without CRLF");
    }
    let Ok(line) = std::str::from_utf8(&window[V1_PREFIX.len()..lf - 1]) else {
        return Parsed::Invalid("v1 header is not text");
    };
    let len = lf + 1;
    if line == "UNKNOWN" || line.starts_with("UNKNOWN ") {
        return Parsed::Done {
            len,
            addresses: None,
        };
    }
    match v1_addresses(line) {
        Some(addresses) => Parsed::Done {
            len,
            addresses: Some(addresses),
        },
        None => Parsed::Invalid("malformed v1 header"),
    }
}

fn v1_addresses(line: &str) -> Option<Addresses> {
    let mut parts = line.split(' ');
    let family = parts.next()?;
    let (source, destination) = (parts.next()?, parts.next()?);
    let (source_port, destination_port) = (port(parts.next()?)?, port(parts.next()?)?);
    if parts.next().is_some() {
        return None;
    }
    let (source, destination): (IpAddr, IpAddr) = match family {
        "TCP4" => (
            source.parse::<Ipv4Addr>().ok()?.into(),
            destination.parse::<Ipv4Addr>().ok()?.into(),
        ),
        "TCP6" => (
            source.parse::<Ipv6Addr>().ok()?.into(),
            destination.parse::<Ipv6Addr>().ok()?.into(),
        ),
        _ => return None,
    };
    Some(Addresses {
        source: SocketAddr::new(source, source_port),
        destination: SocketAddr::new(destination, destination_port),
    })
}

/// A decimal port without sign or leading zeros.
fn port(text: &str) -> Option<u16> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !digits || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

/// Signature, version/command, family/protocol, length, then addresses
/// and TLVs (which tern skips).
fn parse_v2(bytes: &[u8]) -> Parsed {
    let Some(fixed) = bytes.get(..16) else {
        return Parsed::Incomplete;
    };
    let (version, command) = (fixed[12] >> 4, fixed[12] & 0x0f);
    if version != 2 {
        return Parsed::Invalid("v2 header with another version");
    }
    if command > 1 {
        return Parsed::Invalid("v2 header with an unknown command");
    }
    let len = 16 + usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    if len > MAX_HEADER {
        return Parsed::Invalid("v2 header longer than tern accepts");
    }
    let Some(body) = bytes.get(16..len) else {
        return Parsed::Incomplete;
    };
    if command == 0 {
        // LOCAL: the balancer's own connection (a health check).
        return Parsed::Done {
            len,
            addresses: None,
        };
    }
    match v2_addresses(fixed[13], body) {
        Ok(addresses) => Parsed::Done { len, addresses },
        Err(why) => Parsed::Invalid(why),
    }
}

fn v2_addresses(family: u8, body: &[u8]) -> Result<Option<Addresses>, &'static str> {
    let short = "v2 header shorter than its addresses";
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    match family {
        // TCP over IPv4.
        0x11 => {
            let b = body.get(..12).ok_or(short)?;
            let ip = |at: usize| IpAddr::from([b[at], b[at + 1], b[at + 2], b[at + 3]]);
            Ok(Some(Addresses {
                source: SocketAddr::new(ip(0), port(8)),
                destination: SocketAddr::new(ip(4), port(10)),
            }))
        }
        // TCP over IPv6.
        0x21 => {
            let b = body.get(..36).ok_or(short)?;
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&b[at..at + 16]);
                IpAddr::from(octets)
            };
            Ok(Some(Addresses {
                source: SocketAddr::new(ip(0), port(32)),
                destination: SocketAddr::new(ip(16), port(34)),
            }))
        }
        // UNSPEC, UDP, Unix sockets: nothing tern can use as a client
        // address; the specification lets the receiver keep its own.
        0x00 | 0x12 | 0x22 | 0x31 | 0x32 => Ok(None),
        _ => Err("v2 header with an unknown address family"),
    }
}

#[cfg(test)]
mod tests;
