//! What a request brings to the choice of server (sticky cookie, hash key)
//! and what its response will need (public host for reverse rewriting,
//! sticky cookie insertion), taken from the head before it is consumed.

use std::net::IpAddr;

use super::response_edit::ResponseEdit;
use crate::config::{Backend, Plan};
use crate::http::request::RequestHead;
use crate::route::reverse::Public;
use crate::route::{Action, Proxy};
use crate::upstream::balance::Balance;
use crate::upstream::hash::fnv1a;
use crate::upstream::pick::Steer;
use crate::upstream::sticky::StickyMode;

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

/// Kept from the request for its response, only where a route needs it.
pub struct ResponseNeeds {
    /// Index into `Plan::routes`.
    pub route: usize,
    /// The host the client asked for, port included.
    pub public_host: Vec<u8>,
    pub scheme: &'static str,
}

pub fn response_needs(
    route: usize,
    proxy: &Proxy,
    backend: &Backend,
    req: &RequestHead,
    scheme: &'static str,
) -> Option<Box<ResponseNeeds>> {
    let inserts = backend
        .sticky
        .as_ref()
        .is_some_and(|s| s.mode == StickyMode::Insert);
    (proxy.edits_response() || inserts).then(|| {
        Box::new(ResponseNeeds {
            route,
            public_host: req.host.to_vec(),
            scheme,
        })
    })
}

/// The changes to one response, once the server that answers is known.
pub fn response_edit<'a>(
    plan: &'a Plan,
    needs: &'a ResponseNeeds,
    backend: &'a Backend,
    steer: Steer,
    server_pos: usize,
) -> Option<ResponseEdit<'a>> {
    let Action::Proxy(proxy) = &plan.routes.get(needs.route)?.action else {
        return None;
    };
    // Insert mode names the server unless the request's cookie already did.
    let set_cookie = backend
        .sticky
        .as_ref()
        .filter(|s| {
            s.mode == StickyMode::Insert && steer.sticky.map(usize::from) != Some(server_pos)
        })
        .zip(backend.servers.get(server_pos))
        .map(|(sticky, server)| (sticky, server.route.as_str()));
    Some(ResponseEdit {
        proxy,
        public: Public {
            scheme: needs.scheme,
            host: &needs.public_host,
            rewrite: proxy.rewrite.as_ref(),
        },
        set_cookie,
    })
}
