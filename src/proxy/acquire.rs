//! Getting an upstream connection for one request: pick a server (sticky,
//! balance, health, limits), wait in the queue while every live server is
//! at `max_connections`, reuse a pooled connection or connect, and retry a
//! failed connect up to `retries` times, on another server with
//! `redispatch`, else on the same one. Nothing has been sent when a connect
//! fails, so retrying it is always safe; `exchange` decides when a request a
//! server closed on without answering may go again, and it goes by the same
//! rule.

use std::time::{Duration, Instant};

use super::failure_log::upstream_failed;
use super::handshake::connect_tls;
use super::prepare::Prepared;
use crate::config::{Backend, Server};
use crate::conn::Conn;
use crate::failure::Failure;
use crate::proxy_protocol::Addresses;
use crate::upstream::connect::{connect, ConnectError};
use crate::upstream::limit::{wait_for_slot, InLine};
use crate::upstream::pick::{allows, pick, Choosing, Pick, Tried};
use crate::upstream::pool::SHED_WHEN_EXHAUSTED;
use crate::upstream::state::InFlight;
use crate::worker_ctx::WorkerCtx;

pub struct Upstream<'c> {
    pub conn: Conn,
    /// Position in the backend's servers (a backend has at most 256).
    pub position: u16,
    pub reused: bool,
    /// Belongs to this client connection alone (it began with a PROXY
    /// header naming the client): never pooled.
    pub private: bool,
    /// Counts this request against the server until the exchange ends;
    /// knows the server's id.
    pub in_flight: InFlight<'c>,
}

/// What a request's attempts have used up so far: failed connects, and
/// servers that took an idempotent request and closed without answering.
pub struct Attempts {
    tried: Tried,
    /// Attempts still allowed: `retries` after the first (a `u16`, so
    /// `unanswered` fits beside it in every request's future: 65,535
    /// attempts are as many as any more).
    left: u16,
    /// The server that took the request and closed without answering,
    /// until the next acquire: tried again first without `redispatch`.
    unanswered: Option<u16>,
    /// The failure to answer with when none is left.
    last: Failure,
}

impl Attempts {
    pub fn new(backend: &Backend) -> Self {
        Attempts {
            tried: Tried::default(),
            left: u16::try_from(backend.retries.saturating_add(1)).unwrap_or(u16::MAX),
            unanswered: None,
            last: Failure::NoServer,
        }
    }

    /// The server at `position` took the request and closed without a
    /// response byte. `true` when another server may still be tried.
    pub fn no_answer_from(&mut self, position: usize) -> bool {
        self.tried.add(position);
        self.unanswered = u16::try_from(position).ok();
        self.last = Failure::NoResponse;
        self.left = self.left.saturating_sub(1);
        self.left > 0
    }

    /// Whether another attempt is allowed after the one under way.
    pub fn remain(&self) -> bool {
        self.left > 1
    }
}

/// `NoServer` when no server is live or the queue wait ran out; else, when
/// every attempt failed, the last attempt's failure.
pub async fn acquire<'c>(
    ctx: &'c WorkerCtx,
    req: &Prepared,
    fresh_only: bool,
    attempts: &mut Attempts,
) -> Result<Upstream<'c>, Failure> {
    let backend = &ctx.plan.backends[req.backend];
    // A retry after no answer goes where a failed connect's goes.
    let mut failed: Option<usize> = attempts.unanswered.take().map(usize::from);
    let mut queue_deadline: Option<Instant> = None;
    loop {
        let (position, held) = match failed.filter(|_| !backend.redispatch) {
            Some(same) => (same, false),
            None => next_server(ctx, req, attempts, &mut queue_deadline).await?,
        };
        let server = &backend.servers[position];
        if !held && !ctx.upstreams.take_slot(server.id) {
            // Another worker took the server's last slot first: pick again.
            failed = None;
            continue;
        }
        let in_flight = InFlight::new(&ctx.upstreams, server.id);
        let upstream = |conn, reused, private| Upstream {
            conn,
            position: position as u16,
            reused,
            private,
            in_flight,
        };
        if !fresh_only {
            if let Some(conn) = ctx.pool.take(server.id) {
                ctx.stats.upstream_reused(server.id);
                return Ok(upstream(conn, true, false));
            }
        }
        // Boxed, as the queue's wait: a request served from the pool (most)
        // allocates nothing here, and this future stays small.
        let opening = open_making_room(ctx, backend, server, req.proxy_header.as_deref());
        match Box::pin(opening).await {
            Ok(conn) => {
                ctx.stats.upstream_connected(server.id);
                return Ok(upstream(conn, false, server.send_proxy.is_some()));
            }
            Err(err) => {
                // Its slot (held by `upstream`'s `in_flight`) goes back
                // before the failure is counted and the next pick.
                drop(upstream);
                connect_failed(ctx, req, position, err, attempts);
            }
        }
        failed = Some(position);
        if attempts.left == 0 {
            return Err(attempts.last);
        }
    }
}

/// The server to try next, among those not tried yet, and whether the
/// queue handed it over with its slot already taken. The queue's wait
/// starts at the first `Pick::Full` and its deadline holds for the request.
///
/// The queue hands a freed slot to the first waiter without knowing what
/// that waiter may use, so a handed server is checked by the same rules as
/// a fresh pick (`pick::allows`): one that is down, drained, tried, a
/// backup while a primary is live, or of weight 0 for a request not sticky
/// to it, gets its slot passed on to the next waiter, and this request
/// picks again, queueing if it must (in its place, `InLine`), never to be
/// handed that server again.
async fn next_server(
    ctx: &WorkerCtx,
    req: &Prepared,
    attempts: &Attempts,
    queue_deadline: &mut Option<Instant>,
) -> Result<(usize, bool), Failure> {
    let mut line = InLine::new(attempts.tried);
    loop {
        match pick_for(ctx, req, &attempts.tried) {
            Pick::Server(position) => return Ok((position, false)),
            Pick::Exhausted if attempts.tried.is_empty() => return Err(Failure::NoServer),
            Pick::Exhausted => return Err(attempts.last),
            Pick::Full => {}
        }
        let queue_wait = ctx.plan.backends[req.backend].timeouts.queue;
        let deadline =
            *queue_deadline.get_or_insert_with(|| crate::timer::deadline_after(queue_wait));
        let retry = || pick_for(ctx, req, &attempts.tried);
        let Some(position) = Box::pin(queue(ctx, req, &mut line, deadline, retry)).await else {
            return Err(Failure::NoServer);
        };
        if may_use(ctx, req, &attempts.tried, position) {
            return Ok((position, true));
        }
        line.refuses.add(position);
        let servers = &ctx.plan.backends[req.backend].servers;
        if let Some(server) = servers.get(position) {
            ctx.upstreams.slots().release(server.id);
        }
    }
}

/// Whether `pick_for` could choose the server at `position`, its slot aside.
fn may_use(ctx: &WorkerCtx, req: &Prepared, tried: &Tried, position: usize) -> bool {
    allows(
        &choosing(ctx, req, tried, &|s| ctx.server_states.accepts(s)),
        position,
    )
}

/// The balancer's choice for `req` now, skipping the servers in `tried`
/// and those draining or disabled.
fn pick_for(ctx: &WorkerCtx, req: &Prepared, tried: &Tried) -> Pick {
    pick(&choosing(ctx, req, tried, &|s| {
        ctx.server_states.accepts(s)
    }))
}

fn choosing<'a>(
    ctx: &'a WorkerCtx,
    req: &Prepared,
    tried: &'a Tried,
    admitted: &'a dyn Fn(usize) -> bool,
) -> Choosing<'a> {
    Choosing {
        backends: &ctx.plan.backends,
        health: &ctx.plan.health,
        upstreams: &ctx.upstreams,
        backend_index: req.backend,
        steer: req.steer,
        tried,
        admitted,
    }
}

/// A connect to the server at `position` failed: logged, counted against
/// the server (passive health), and one attempt spent.
fn connect_failed(
    ctx: &WorkerCtx,
    req: &Prepared,
    position: usize,
    err: ConnectError,
    attempts: &mut Attempts,
) {
    let backend = &ctx.plan.backends[req.backend];
    let server = &backend.servers[position];
    match err {
        ConnectError::TimedOut => {
            attempts.last = Failure::ConnectTimedOut;
            upstream_failed(ctx, req, server, &attempts.last.cause());
        }
        ConnectError::Failed(err) => {
            attempts.last = Failure::ConnectFailed;
            let cause = attempts.last.cause();
            upstream_failed(ctx, req, server, &format_args!("{cause}: {err}"));
        }
    }
    // The access log and the server's counts name the server that failed.
    req.meter.using_server(server.id);
    ctx.stats.upstream_connect_failed(server.id);
    ctx.upstreams.note_failure(backend, server);
    attempts.tried.add(position);
    attempts.left = attempts.left.saturating_sub(1);
}

/// Every server the request may use is at its `max_connections`: waits in
/// the backend's queue, for the whole process, until a slot is handed over
/// (see `upstream::limit`), never one of the servers `line` refuses;
/// `None` when `deadline` passes first.
async fn queue(
    ctx: &WorkerCtx,
    req: &Prepared,
    line: &mut InLine,
    deadline: Instant,
    pick_now: impl Fn() -> Pick,
) -> Option<usize> {
    let servers = &ctx.plan.backends[req.backend].servers;
    let retry = || match pick_now() {
        Pick::Server(pos) if ctx.upstreams.take_slot(servers[pos].id) => Some(pos),
        _ => None,
    };
    // A sticky request whose server is live waits for that server only.
    let only = req.steer.sticky.filter(|&pos| {
        servers.get(usize::from(pos)).is_some_and(|s| {
            ctx.server_states.accepts(s.id) && ctx.upstreams.is_live(&ctx.plan.health, s)
        })
    });
    let slots = ctx.upstreams.slots();
    wait_for_slot(slots, req.backend, ctx.id, only, line, deadline, retry).await
}

/// `open`, and when no descriptor was left for it, `open` again after
/// closing idle pooled connections (`UpstreamPool::shed`): a pool kept
/// for one backend must not make another's requests fail. Tried again
/// even when this pool had nothing left to close: connects failing at the
/// same moment find it emptied by the first of them, whose descriptors
/// are closing.
async fn open_making_room(
    ctx: &WorkerCtx,
    backend: &Backend,
    server: &Server,
    client: Option<&Addresses>,
) -> Result<Conn, ConnectError> {
    match open(backend, server, client).await {
        Err(ConnectError::Failed(err)) if crate::rlimit::is_exhaustion(&err) => {
            ctx.pool.shed(SHED_WHEN_EXHAUSTED);
            // The ring closes the shed descriptors when it next submits,
            // which a wait makes it do.
            monoio::time::sleep(Duration::from_millis(1)).await;
            open(backend, server, client).await
        }
        opened => opened,
    }
}

/// A new connection to `server`, with a TLS handshake on TLS backends (a
/// failed handshake counts as a failed connect: nothing was sent yet).
async fn open(
    backend: &Backend,
    server: &Server,
    client: Option<&Addresses>,
) -> Result<Conn, ConnectError> {
    let mut stream = connect(server.address, backend.timeouts.connect).await?;
    if let (Some(version), Some(client)) = (server.send_proxy, client) {
        // Before anything else, TLS included.
        let sent = crate::proxy_protocol::send(&mut stream, version, client);
        match crate::timer::timeout(backend.timeouts.connect, sent).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(ConnectError::Failed(err)),
            Err(_) => return Err(ConnectError::TimedOut),
        }
    }
    let (Some(config), Some(name)) = (&backend.tls, &server.tls_name) else {
        return Ok(Conn::new(stream));
    };
    let handshake = connect_tls(stream, config.clone(), name.clone());
    match crate::timer::timeout(backend.timeouts.connect, Box::pin(handshake)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(ConnectError::Failed(err)),
        Err(_) => Err(ConnectError::TimedOut),
    }
}
