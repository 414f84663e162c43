//! The synchronous step between reading a head and talking to an upstream:
//! parse, validate, route, and write the upstream head (or the answer, for
//! routes tern answers itself). Kept out of the async code so the parser's
//! header array never lives in a connection's future. A static answer that
//! must wait for a file opened off the worker is the one exception:
//! `Step::Opening`, answered again from the same head by
//! `answer_static_again` once `static_open::settle` has the file.

use std::net::SocketAddr;
use std::sync::Arc;

use super::answer::UnreadBody;
use super::response::edit::{response_needs, ResponseNeeds};
use super::response::write::ClientSide;
use super::rewrite_request::{write_upstream_head, ForwardInfo, RequestEdit};
use super::steer::steer;
use crate::access_log::Entry;
use crate::admission::ClientAddr;
use crate::config::plan::MAX_HEADERS_CAP;
use crate::failure::Failure;
use crate::files::{Answer, Opened, StaticSite};
use crate::http::headers::{classify, FieldKind};
use crate::http::request::{self, RequestHead};
use crate::http::status::status_of_response;
use crate::http::{BodyKind, Persist};
use crate::metrics::RequestMeter;
use crate::route::answer::RequestUrl;
use crate::route::{AbortOn, Action, Proxy, RouteInput};
use crate::upstream::pick::Steer;
use crate::worker_ctx::WorkerCtx;

/// What to do with a request.
pub enum Outcome {
    Proxy(Prepared),
    /// tern answers itself (redirect, respond, no route, a rate limit);
    /// `close` when the connection can't go on (a request body too large to
    /// drop, or the client's wish), else `body` is the request's body, read
    /// and dropped after the answer (`answer::answer_and_drop_body`).
    Answer {
        response: Vec<u8>,
        close: bool,
        body: UnreadBody,
    },
    /// A static route's answer, already decided; only sending remains, and
    /// dropping the request's `body` when the connection goes on.
    Static {
        reply: crate::files::Reply,
        body: UnreadBody,
    },
}

/// What `prepare` made of a request.
pub enum Step {
    Ready(Outcome),
    /// A static route's answer waits for a file whose lookup needs the disk:
    /// `static_open::settle` has it opened off the worker and answers again.
    Opening(Box<Opening>),
}

/// A static answer to make again once `opened`'s missing file is open.
pub struct Opening {
    site: Arc<StaticSite>,
    /// Of the request's plan, which the connection keeps while it waits.
    route_index: usize,
    opened: Opened,
}

impl Opening {
    /// Opens the file the answer waits for, off the worker.
    pub async fn open_missing(&mut self) {
        crate::files::open_missing(&self.site, &mut self.opened).await;
    }
}

/// A request ready to be proxied.
pub struct Prepared {
    pub upstream_head: Vec<u8>,
    pub backend: usize,
    pub steer: Steer,
    /// For routes that change responses, or insert sticky cookies.
    pub response: Option<Box<ResponseNeeds>>,
    pub body: BodyKind,
    pub client: ClientSide,
    pub is_head: bool,
    pub idempotent: bool,
    /// When the request asks to switch protocols, to ones its route
    /// forwards: those it offers (its `Upgrade` fields, joined), which a
    /// 101 must choose from. Boxed: upgrades are few, requests many.
    pub upgrade: Option<Box<[u8]>>,
    /// The upstream connection is not to be pooled after this exchange:
    /// draft-76 key bytes went up unframed, and a server that declined
    /// the upgrade would read them as the start of the next request.
    pub unframed_body: bool,
    /// The upstream answered before taking the whole body (`exchange`):
    /// the client may still be sending the rest.
    pub body_unread: bool,
    /// When the client's leaving aborts the request while it waits.
    pub abort_on: AbortOn,
    pub expect_continue: bool,
    /// On a route that compresses: the route and the client's coding.
    pub compress: Option<crate::compress::Pending>,
    /// Counts the request into the worker's metrics when the exchange ends.
    pub meter: RequestMeter,
    /// What a PROXY header to a `send_proxy` server says; only for
    /// backends that have one.
    pub proxy_header: Option<Box<crate::proxy_protocol::Addresses>>,
}

impl Prepared {
    /// Whether the request can be sent upstream again whole, for a retry:
    /// idempotent and without a body (one streamed from the client can't
    /// be read twice).
    pub fn resendable(&self) -> bool {
        self.body.is_empty() && self.idempotent
    }
}

/// The client's connection, as far as forwarding needs it.
pub struct Peer<'s> {
    /// The client: the peer, or the one an accepted PROXY header names
    /// (with the header, which a `send_proxy` server is told).
    pub from: &'s ClientAddr,
    /// The address the client connected to.
    pub local: LocalAddr<'s>,
    /// Index of the listener it arrived on.
    pub listener: usize,
    /// The client speaks TLS to tern: `X-Forwarded-Proto: https`.
    pub tls: bool,
    /// The request came as an HTTP/2 stream (its head was translated).
    pub http2: bool,
}

/// The local address: read from the socket only when a request needs it
/// (a system call), or known already (an HTTP/2 stream's connection).
pub enum LocalAddr<'s> {
    Socket(&'s monoio::net::TcpStream),
    Known(Option<SocketAddr>),
}

impl LocalAddr<'_> {
    pub fn get(&self) -> Option<SocketAddr> {
        match self {
            LocalAddr::Socket(stream) => stream.local_addr().ok(),
            LocalAddr::Known(addr) => *addr,
        }
    }
}

impl Peer<'_> {
    /// The client's address.
    pub fn addr(&self) -> SocketAddr {
        *self.from.addr()
    }

    /// The scheme the client used.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }
}

pub fn prepare(head: &[u8], peer: &Peer, ctx: &WorkerCtx) -> Result<Step, Failure> {
    let plan = &ctx.plan;
    let mut fields = request::field_slots::<MAX_HEADERS_CAP>();
    let mut req = request::parse(head, &mut fields, &plan.limits).map_err(Failure::from)?;
    // An answer needs no body: a small one is dropped after it, a larger
    // one ends the connection.
    let persist = req.persist();
    // What goes before such an answer, for the access log.
    let interim = interim_bytes(&req, peer, persist);
    // Before any route: a redirect to https must not hide the challenge.
    if !peer.tls {
        let challenge = crate::acme::challenge::http01_response(
            req.method,
            || crate::route::host::host_name(req.host),
            req.path(),
            persist.field(),
        );
        if let Some(response) = challenge {
            log_local(ctx, head, &req, peer, None, &response, interim);
            return Ok(Step::Ready(local_answer(response, persist, &req)));
        }
    }
    let input = RouteInput::of(&req, peer.addr().ip(), peer.listener);
    let live = |backend: usize| ctx.backend_live(backend);
    let route_index = plan.routes.iter().position(|r| r.matches(&input, &live));
    let Some(route_index) = route_index else {
        let response = plan.no_route.response(req.is_head(), persist);
        log_local(ctx, head, &req, peer, None, &response, interim);
        return Ok(Step::Ready(local_answer(response, persist, &req)));
    };
    if let Action::Proxy(proxy) = &plan.routes[route_index].action {
        req.upgrade = req.upgrade && upgrade_allowed(&req, proxy);
    }
    let route = &plan.routes[route_index];
    if matches!(req.body, BodyKind::Length(n) if n > plan.max_body_bytes(route_index)) {
        return Err(Failure::BodyTooLarge);
    }
    let limited = route.rate_limit.as_deref().and_then(|limit| {
        crate::limits::check_route(limit, &route.name, &peer.addr(), &req, persist)
    });
    if let Some(response) = limited {
        log_local(ctx, head, &req, peer, Some(route_index), &response, interim);
        return Ok(Step::Ready(local_answer(response, persist, &req)));
    }
    let step = act(&req, head, peer, ctx, route_index, persist);
    match &step {
        Step::Ready(Outcome::Answer { response, .. }) => {
            log_local(ctx, head, &req, peer, Some(route_index), response, interim)
        }
        Step::Ready(Outcome::Static { reply, .. }) => {
            log_static(ctx, head, &req, peer, route_index, reply)
        }
        Step::Ready(Outcome::Proxy(_)) | Step::Opening(_) => {}
    }
    Ok(step)
}

/// tern's own answer to `req`: its body, if any, is dropped after it
/// unless the connection is to close (`persist`, `RequestHead::persist`).
fn local_answer(response: Vec<u8>, persist: Persist, req: &RequestHead) -> Outcome {
    Outcome::Answer {
        response,
        close: persist == Persist::Close,
        body: UnreadBody::of(req),
    }
}

/// Answers a static request again, with what `opening` had opened for it:
/// the head parsed again (it passed every check and limit the first time).
pub fn answer_static_again(
    head: &[u8],
    peer: &Peer,
    ctx: &WorkerCtx,
    opening: Opening,
) -> Result<Step, Failure> {
    let plan = &ctx.plan;
    let mut fields = request::field_slots::<MAX_HEADERS_CAP>();
    let req = request::parse(head, &mut fields, &plan.limits).map_err(Failure::from)?;
    let Opening {
        site,
        route_index,
        opened,
    } = opening;
    let url_path = plan.routes[route_index].strip_prefix(req.path());
    let step = answer_static(&site, &req, url_path, route_index, opened);
    if let Step::Ready(Outcome::Static { reply, .. }) = &step {
        log_static(ctx, head, &req, peer, route_index, reply);
    }
    Ok(step)
}

/// A static route's answer, or the file it waits for.
fn answer_static(
    site: &Arc<StaticSite>,
    req: &RequestHead,
    url_path: &[u8],
    route_index: usize,
    mut opened: Opened,
) -> Step {
    match crate::files::answer(site, req, url_path, &mut opened) {
        Answer::Ready(reply) => Step::Ready(Outcome::Static {
            reply,
            body: UnreadBody::of(req),
        }),
        Answer::Open => Step::Opening(Box::new(Opening {
            site: Arc::clone(site),
            route_index,
            opened,
        })),
    }
}

fn log_static(
    ctx: &WorkerCtx,
    head: &[u8],
    req: &RequestHead,
    peer: &Peer,
    route_index: usize,
    reply: &crate::files::Reply,
) {
    let body = reply.body.as_ref().map_or(0, |b| b.len);
    let sent = body + interim_bytes(req, peer, reply.persist);
    log_local(ctx, head, req, peer, Some(route_index), &reply.head, sent)
}

/// What the client gets before tern's own answer to `req` that says
/// `persist` of the connection: a `100 Continue` over HTTP/1.1 when the
/// body is to be read and dropped and the client waits for one, else nothing.
fn interim_bytes(req: &RequestHead, peer: &Peer, persist: Persist) -> u64 {
    if peer.http2 {
        0
    } else {
        UnreadBody::of(req).interim_bytes(persist)
    }
}

/// Whether the protocols the request's `Upgrade` fields offer are all ones
/// the route forwards. Otherwise the field is dropped and the request goes
/// on as plain HTTP/1.1 (RFC 9110 §7.8 lets a server ignore an Upgrade).
fn upgrade_allowed(req: &RequestHead, proxy: &Proxy) -> bool {
    req.headers
        .iter()
        .filter(|field| classify(field.name.as_bytes()) == FieldKind::Upgrade)
        .all(|field| proxy.allows_upgrade(field.value))
}

/// The protocols the request's `Upgrade` fields offer, as one list.
fn offered_protocols(req: &RequestHead) -> Box<[u8]> {
    let mut offered = Vec::new();
    for field in req.headers {
        if classify(field.name.as_bytes()) == FieldKind::Upgrade {
            if !offered.is_empty() {
                offered.push(b',');
            }
            offered.extend_from_slice(field.value);
        }
    }
    offered.into_boxed_slice()
}

/// What the matched route does with the request; `persist` is what an
/// answer of tern's own says about the connection.
fn act(
    req: &RequestHead,
    head: &[u8],
    peer: &Peer,
    ctx: &WorkerCtx,
    route_index: usize,
    persist: Persist,
) -> Step {
    let plan = &ctx.plan;
    let outcome = match &plan.routes[route_index].action {
        Action::Proxy(proxy) => Outcome::Proxy(forward(req, head, peer, ctx, (route_index, proxy))),
        Action::Static(site) => {
            let url_path = plan.routes[route_index].strip_prefix(req.path());
            return answer_static(site, req, url_path, route_index, Opened::default());
        }
        Action::Respond(respond) => {
            local_answer(respond.response(req.is_head(), persist), persist, req)
        }
        Action::Redirect(redirect) => {
            let local = peer.local.get().map(|a| a.to_string());
            let host = match (req.host, &local) {
                (b"", Some(local)) => local.as_bytes(),
                (host, _) => host,
            };
            let url = RequestUrl {
                scheme: peer.scheme(),
                host,
                target: req.origin_target,
            };
            local_answer(redirect.response(&url, persist), persist, req)
        }
    };
    Step::Ready(outcome)
}

/// Logs a request tern answers itself, with its head's status and the
/// bytes the client gets (`extra`: a `100 Continue` before the head, a
/// file body after it).
fn log_local(
    ctx: &WorkerCtx,
    head: &[u8],
    req: &RequestHead,
    peer: &Peer,
    route: Option<usize>,
    response: &[u8],
    extra: u64,
) {
    if ctx.stats.access_enabled() {
        let entry = Entry::new(head, req, peer.addr().ip()).over(peer.http2);
        let status = status_of_response(response);
        let bytes = response.len() as u64 + extra;
        ctx.stats.log_local(&entry, route, status, bytes);
    }
}

/// `route`: the matched route's index and its proxy action.
fn forward(
    req: &RequestHead,
    head: &[u8],
    peer: &Peer,
    ctx: &WorkerCtx,
    (route, proxy): (usize, &Proxy),
) -> Prepared {
    let backend = &ctx.plan.backends[proxy.backend];
    let upstream_head = upstream_head(req, head, peer, proxy);
    // A draft-76 WebSocket handshake's 8 key bytes go with the head (after
    // it was written: the server expects no Content-Length).
    let body = crate::http::websocket76::body(req);
    let prepared = Prepared {
        upstream_head,
        backend: proxy.backend,
        steer: steer(backend, req, peer.addr().ip()),
        response: response_needs(route, proxy, backend, req, peer.scheme()),
        body,
        client: ClientSide {
            version: req.version,
            keep_alive: req.keep_alive,
        },
        is_head: req.is_head(),
        idempotent: req.is_idempotent(),
        upgrade: req.upgrade.then(|| offered_protocols(req)),
        unframed_body: body != req.body,
        body_unread: false,
        abort_on: proxy.abort_on,
        expect_continue: req.expect_continue,
        compress: compress_pending(req, route, proxy),
        meter: RequestMeter::start(
            &ctx.stats,
            (peer.listener, peer.http2),
            route,
            proxy.backend,
        ),
        proxy_header: crate::proxy_protocol::addresses_for(
            backend.sends_proxy,
            peer.from.header(),
            peer.addr(),
            || peer.local.get(),
        ),
    };
    if ctx.stats.access_enabled() {
        prepared
            .meter
            .attach(Entry::new(head, req, peer.addr().ip()).over(peer.http2));
    }
    prepared
}

/// The head sent upstream: the client's, rewritten and edited as the
/// route says, with the forwarding fields added.
fn upstream_head(req: &RequestHead, head: &[u8], peer: &Peer, proxy: &Proxy) -> Vec<u8> {
    let rewritten = proxy.rewrite.as_ref().and_then(|rewrite| {
        let target = req.origin_target;
        let query = memchr::memchr(b'?', target).map_or(&b""[..], |at| &target[at..]);
        rewrite.target(req.path(), query)
    });
    let edit = proxy.edits_request().then_some(RequestEdit {
        target: rewritten.as_deref(),
        host: proxy.upstream_host.as_deref(),
        headers: proxy.request_edits.as_ref(),
    });
    let info = ForwardInfo {
        client_ip: peer.addr().ip(),
        proto: peer.scheme(),
        strip_expect: true,
        // A system call, so only for the rare request that needs it.
        local_addr: (!req.has_host_field && req.target_authority.is_none())
            .then(|| peer.local.get())
            .flatten(),
        edit,
    };
    // Its own allocation, not a pooled buffer: it is kept for a possible
    // retry while the request waits upstream, which for a long-poll is
    // minutes (at its length then: `exchange::attempt`).
    let mut upstream_head = Vec::with_capacity(head.len() + 256);
    write_upstream_head(req, head, &info, &mut upstream_head);
    upstream_head
}

/// Whether the response may be compressed on the way (the route's
/// `compress` and the request's Accept-Encoding), and how.
fn compress_pending(
    req: &RequestHead,
    route: usize,
    proxy: &Proxy,
) -> Option<crate::compress::Pending> {
    let policy = proxy.compress.as_ref()?;
    let ask = crate::compress::decide::for_request(policy, req, req.upgrade)?;
    let route = u32::try_from(route).ok()?;
    Some(crate::compress::Pending { route, ask })
}
