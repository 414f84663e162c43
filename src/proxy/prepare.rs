//! The synchronous step between reading a head and talking to an upstream:
//! parse, validate, route, and write the upstream head. Kept out of the async
//! code so the parser's header array never lives in a connection's future.

use std::net::SocketAddr;

use super::rewrite_request::{write_upstream_head, ForwardInfo};
use super::rewrite_response::ClientSide;
use crate::config::plan::MAX_HEADERS_CAP;
use crate::http::request::{self, RequestError};
use crate::http::BodyKind;
use crate::metrics::RequestMeter;
use crate::route::{self, RouteInput};
use crate::worker_ctx::WorkerCtx;

/// A request ready to be proxied.
pub struct Prepared {
    pub upstream_head: Vec<u8>,
    pub backend: usize,
    pub body: BodyKind,
    pub client: ClientSide,
    pub is_head: bool,
    pub idempotent: bool,
    pub upgrade: bool,
    pub expect_continue: bool,
    /// Counts the request into the worker's metrics when the exchange ends.
    pub meter: RequestMeter,
}

/// A request tern answers itself.
pub struct Refusal {
    pub status: u16,
    /// The connection can't continue (framing unknown, or a body unread).
    pub close: bool,
}

/// The client's connection, as far as forwarding needs it.
pub struct Peer<'s> {
    pub addr: SocketAddr,
    pub stream: &'s monoio::net::TcpStream,
    /// The client speaks TLS to tern: `X-Forwarded-Proto: https`.
    pub tls: bool,
    /// Index of the listener it arrived on.
    pub listener: usize,
}

pub fn prepare(head: &[u8], peer: &Peer, ctx: &WorkerCtx) -> Result<Prepared, Refusal> {
    let plan = &ctx.plan;
    let mut fields = request::field_slots::<MAX_HEADERS_CAP>();
    let req = request::parse(head, &mut fields, &plan.limits).map_err(|err| Refusal {
        status: status_of(err),
        close: true,
    })?;
    let input = RouteInput { path: req.path() };
    let Some(route) = route::select(&plan.routes, &input) else {
        return Err(Refusal {
            status: 404,
            close: !req.body.is_empty() || !req.keep_alive,
        });
    };
    let info = ForwardInfo {
        client_ip: peer.addr.ip(),
        proto: if peer.tls { "https" } else { "http" },
        strip_expect: true,
        // A system call, so only for the rare request that needs it.
        local_addr: (!req.has_host_field && req.target_authority.is_none())
            .then(|| peer.stream.local_addr().ok())
            .flatten(),
    };
    // Exact size, not a pooled buffer: it is kept for a possible retry while
    // the request waits upstream, which for a long-poll is minutes.
    let mut upstream_head = Vec::with_capacity(head.len() + 256);
    write_upstream_head(&req, head, &info, &mut upstream_head);
    Ok(Prepared {
        upstream_head,
        backend: route.backend,
        body: req.body,
        client: ClientSide {
            version: req.version,
            keep_alive: req.keep_alive,
        },
        is_head: req.is_head(),
        idempotent: req.is_idempotent(),
        upgrade: req.upgrade,
        expect_continue: req.expect_continue,
        meter: RequestMeter::start(
            &ctx.stats,
            peer.listener,
            route::index_of(&plan.routes, route),
            route.backend,
        ),
    })
}

fn status_of(err: RequestError) -> u16 {
    match err {
        RequestError::BadRequest(_) => 400,
        RequestError::UriTooLong => 414,
        RequestError::HeadTooLarge => 431,
        RequestError::NotImplemented => 501,
        RequestError::VersionNotSupported => 505,
        RequestError::MethodNotAllowed => 405,
    }
}
