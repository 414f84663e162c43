//! Client limits at the edge: `max_connections_per_client` on listeners
//! (nginx `limit_conn`) and `rate_limit` on routes (nginx `limit_req`,
//! HAProxy's `http_req_rate`).
//!
//! A limit belongs to the process, not to a worker: SO_REUSEPORT spreads one
//! client's connections over every worker, so per-worker counts would
//! multiply the limit by the worker count. The state is a fixed-size table
//! shared by the workers (`table`), one per limited route or listener and
//! nowhere else, so routes and listeners without a limit never touch shared
//! state. A reload keeps a limit's table (and its counters) when the route
//! or listener keeps its name and settings (`registry`).

mod clock;
pub mod conns;
pub mod rate;
mod registry;
mod table;

use std::net::IpAddr;

pub use conns::{ConnLimit, ConnSlot};
pub use rate::RateLimit;
pub use registry::{conn_limit, rate_limit};
pub use table::TABLE_ENTRIES;

/// IPv6 clients are keyed by their /64 unless configured otherwise: one
/// host usually holds a whole /64, so per-address keys would let it pick
/// a new address per request.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The table key of a client: an IPv4 address (also when it arrives
/// IPv4-mapped on a dual-stack socket) in the IPv4-mapped range, an IPv6
/// address cut to its first `ipv6_prefix` bits.
pub fn client_key(ip: IpAddr, ipv6_prefix: u8) -> u128 {
    let v6 = match ip {
        IpAddr::V4(v4) => return u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => v6,
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return u128::from(v4.to_ipv6_mapped());
    }
    let mask = u128::MAX
        .checked_shl(128 - u32::from(ipv6_prefix.min(128)))
        .unwrap_or(0);
    u128::from(v6) & mask
}

/// The 429 for a request over `limit` (route `route`'s `rate_limit`), or
/// `None` when the client is within it.
pub fn check_route(
    limit: &RateLimit,
    route: &str,
    client: &std::net::SocketAddr,
    req: &crate::http::request::RequestHead,
    persist: crate::http::Persist,
) -> Option<Vec<u8>> {
    let retry_after = limit.check(client.ip()).err()?;
    crate::log::debug(format_args!(
        "rate_limit of route {route}: refused a request from {}",
        client.ip()
    ));
    Some(too_many_requests(retry_after, req.is_head(), persist))
}

/// The 429 a rate-limited request gets; `retry_after` in whole seconds.
pub fn too_many_requests(
    retry_after: u64,
    head_only: bool,
    persist: crate::http::Persist,
) -> Vec<u8> {
    let body = "Too Many Requests\n";
    let connection = persist.field();
    let mut response = format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nRetry-After: {retry_after}\r\n{connection}\r\n",
        body.len()
    );
    if !head_only {
        response.push_str(body);
    }
    response.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::client_key;
    use std::net::IpAddr;

    fn key(text: &str, prefix: u8) -> u128 {
        client_key(text.parse::<IpAddr>().expect("address"), prefix)
    }

    #[test]
    fn ipv6_clients_share_a_key_per_prefix() {
        assert_eq!(key("2001:db8:1:2::1", 64), key("2001:db8:1:2:ffff::9", 64));
        assert_ne!(key("2001:db8:1:2::1", 64), key("2001:db8:1:3::1", 64));
        assert_ne!(key("2001:db8:1:2::1", 128), key("2001:db8:1:2::2", 128));
        assert_eq!(key("2001:db8::1", 0), key("fe80::1", 0));
    }

    #[test]
    fn ipv4_is_keyed_whole_however_it_arrives() {
        assert_eq!(key("10.1.2.3", 64), key("::ffff:10.1.2.3", 64));
        assert_ne!(key("10.1.2.3", 0), key("10.1.2.4", 0));
    }
}
