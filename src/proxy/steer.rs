//! What a request brings to the choice of server (sticky cookie, hash key),
//! taken from the head before it is consumed. (What its response will need
//! is `response::edit`'s.)

use std::net::IpAddr;

use crate::config::Backend;
use crate::http::request::RequestHead;
use crate::upstream::balance::Balance;
use crate::upstream::hash::fnv1a;
use crate::upstream::pick::Steer;

pub fn steer(backend: &Backend, req: &RequestHead, client_ip: IpAddr) -> Steer {
    let sticky = backend.sticky.as_ref().and_then(|sticky| {
        let route = sticky.route_in(req.headers)?;
        let position = backend
            .servers
            .iter()
            .position(|s| s.route.as_bytes() == route)?;
        u16::try_from(position).ok()
    });
    let hash = match backend.balance {
        Balance::SourceHash => match client_ip {
            IpAddr::V4(v4) => fnv1a(&v4.octets()),
            IpAddr::V6(v6) => fnv1a(&v6.octets()),
        },
        Balance::UriHash => fnv1a(req.path()),
        _ => 0,
    };
    // Folded to 32 bits: plenty to spread keys, and half the size to hold.
    let key = (hash ^ (hash >> 32)) as u32;
    Steer { sticky, key }
}
