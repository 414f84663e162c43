//! HTTP/2 to clients (RFC 9113): a browser's long-polls, EventSources and
//! assets as streams of one connection instead of six HTTP/1.1 connections.
//!
//! The framing, HPACK, flow control and stream states are hyperium's `h2`
//! crate (driven on monoio through `io`); tern adds what a stream means to
//! it. Each accepted stream runs as its own task: its head becomes an
//! HTTP/1.1 head (`request`) and goes through the same `prepare` (routes,
//! limits, static files, tern's answers, access log, metrics) and the same
//! exchange over the same per-worker pools as an HTTP/1.1 request, with
//! the stream as the client's side (`stream`, a `conn::downstream::Downstream`
//! driver). Upstreams still speak HTTP/1.1. A WebSocket over HTTP/2
//! (RFC 8441) becomes an Upgrade request upstream and a `tunnel` after it.
//!
//! Negotiation: ALPN `h2` on TLS listeners (unless `http2 = false`), or
//! the connection preface with prior knowledge on plain listeners with
//! `http2 = true` (h2c); no Upgrade from HTTP/1.1.
//!
//! Drain and stop: GOAWAY with the last stream id; streams in flight
//! finish (the worker waits for the connection up to `shutdown_grace`).
//! After a reload, each new stream follows the newest plan. Idle: GOAWAY
//! once no stream has been served for `client_idle` (`idle`).
//!
//! Rapid reset: no more stream tasks are alive than the streams the
//! connection advertises, a reset stream's task counted until it ends, and
//! a client that resets most of what it opens is sent GOAWAY
//! ENHANCE_YOUR_CALM (`tasks`).

mod idle;
mod io;
pub mod limits;
pub mod request;
mod response;
pub mod stream;
mod tasks;
mod tunnel;
pub(crate) mod watch;

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::http::Request;
use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;

use crate::admission::ClientAddr;
use crate::conn::Conn;
use crate::listen::ListenerInfo;
use crate::proxy::follow::follow_reload;
use crate::proxy::prepare::{LocalAddr, Peer};
use crate::worker_ctx::WorkerCtx;

/// What every stream of one connection shares.
struct Shared {
    from: ClientAddr,
    local: Option<SocketAddr>,
    tls: bool,
}

/// The connection preface a prior-knowledge client starts with.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves an HTTP/2 connection until the client closes it, it idles out,
/// or a drain's GOAWAY has let its streams finish.
pub async fn serve(client: Conn, from: ClientAddr, listener: Rc<ListenerInfo>, ctx: Rc<WorkerCtx>) {
    let addr = *from.addr();
    let shared = Rc::new(Shared {
        from,
        local: client.stream.local_addr().ok(),
        tls: client.is_tls(),
    });
    let Some(mut accepting) = Accepting::handshake(client, &ctx).await else {
        return;
    };
    // Counted apart from accepted connections: a browser's spare
    // (preconnected) socket that never sends the preface is not one.
    ctx.stats.http2_connection();
    while let Some(accepted) = accepting.next_stream(&ctx).await {
        let (request, respond) = match accepted {
            Ok(stream) => stream,
            Err(err) => {
                crate::log::debug(format_args!("HTTP/2 connection from {addr} ended: {err}"));
                break;
            }
        };
        let task = serve_stream(Box::new(StreamStart {
            request,
            respond,
            task: accepting.tasks.start(),
            serving: accepting.idle.serving(),
            shared: shared.clone(),
            listener: listener.clone(),
            ctx: ctx.clone(),
        }));
        // Each stream its own task, its panics contained like a
        // connection's: the stream ends, the connection and the worker go on.
        monoio::spawn(crate::contain::contained(addr, ctx.id, task));
    }
    let closed_by = accepting
        .gone_by
        .unwrap_or_else(|| crate::timer::deadline_after(ctx.plan.shutdown_grace));
    let conn = &mut accepting.conn;
    let _ = crate::timer::timeout_at(closed_by, poll_fn(|cx| conn.poll_closed(cx))).await;
}

/// An HTTP/2 connection taking new streams, and what decides when it stops
/// taking them (GOAWAY).
struct Accepting {
    conn: h2::server::Connection<io::H2Io, Bytes>,
    /// Trips on too many frames of no progress or a SETTINGS value (`watch`).
    calm: Rc<watch::Calm>,
    /// GOAWAY sent: only the streams open may finish, until then. A graceful
    /// GOAWAY waits for the client's answer to its PING, which a client
    /// that says nothing never gives: without this, an idle connection
    /// would be held for ever.
    gone_by: Option<Instant>,
    /// The streams being served, and since when none has been.
    idle: Rc<idle::Idle>,
    /// The streams' tasks alive, and the client's resets under them.
    tasks: Rc<tasks::Tasks>,
    /// When the client's SETTINGS must have come by (the header timeout
    /// from the connection's start): a client that sent the preface alone
    /// was held for `client_idle` and `shutdown_grace`.
    settings_by: Instant,
}

type NewStream = (Request<RecvStream>, SendResponse<Bytes>);

impl Accepting {
    /// The client's preface and SETTINGS within the header timeout; `None`
    /// when they don't come (or the socket can't be driven by `h2`).
    async fn handshake(client: Conn, ctx: &WorkerCtx) -> Option<Self> {
        let (stream, early, tls) = client.into_parts();
        let poll = stream.try_into_poll_io().ok()?;
        let calm = Rc::new(watch::Calm::default());
        let limit = ctx.plan.http2.no_progress_frames_per_second;
        let io = io::H2Io::new(poll, tls, early, calm.clone(), limit);
        let handshake = limits::builder(&ctx.plan.http2).handshake::<_, Bytes>(io);
        let settings_by = crate::timer::deadline_after(ctx.plan.client_timeouts.header);
        match crate::timer::timeout_at(settings_by, handshake).await {
            Ok(Ok(conn)) => Some(Accepting {
                conn,
                tasks: tasks::Tasks::new(ctx.plan.http2.max_concurrent_streams, calm.clone()),
                calm,
                gone_by: None,
                idle: idle::Idle::new(),
                settings_by,
            }),
            _ => None,
        }
    }

    /// The next stream the client opens, once a task may start for it
    /// (`accept`); `None` once the connection ended, or `shutdown_grace`
    /// after GOAWAY. Meanwhile sends GOAWAY: at once when `calm` trips or,
    /// while no stream is served, when the worker at its connection cap
    /// asks idle connections to give way; gracefully on a drain, and once
    /// no stream has been served for `client_idle`.
    async fn next_stream(&mut self, ctx: &WorkerCtx) -> Option<Result<NewStream, h2::Error>> {
        let limit = ctx.plan.client_timeouts.idle;
        let grace = ctx.plan.shutdown_grace;
        loop {
            let gone_by = self.gone_by;
            let going_away = gone_by.is_some();
            let unheard = !self.calm.heard();
            let idle = self.idle.is_idle();
            let check = self.idle_check(limit);
            let conn = &mut self.conn;
            let tasks = &self.tasks;
            monoio::select! {
                accepted = poll_fn(|cx| accept(conn, tasks, cx)) => return accepted,
                reason = poll_fn(|cx| self.calm.poll_tripped(cx)), if !going_away => {
                    conn.abrupt_shutdown(reason);
                    self.gone_by = Some(crate::timer::deadline_after(grace));
                }
                _ = ctx.drain.wait(), if !going_away && !idle => {
                    conn.graceful_shutdown();
                    self.gone_by = Some(crate::timer::deadline_after(grace));
                }
                _ = ctx.drain.wait_idle(), if !going_away && idle => {
                    self.give_way(ctx.drain.is_draining(), grace);
                }
                // The last stream ended: idle from now (the next pass).
                _ = poll_fn(|cx| self.idle.poll_idle(cx)), if !going_away && !idle => {}
                _ = crate::timer::sleep_until(check), if !going_away => {
                    if self.idle.idled(limit) && !conn.has_streams() {
                        conn.graceful_shutdown();
                        self.gone_by = Some(crate::timer::deadline_after(grace));
                    }
                }
                _ = crate::timer::sleep_until(gone_by.unwrap_or(check)), if going_away => {
                    return None;
                }
                _ = crate::timer::sleep_until(self.settings_by), if unheard && !going_away => {
                    if !self.calm.heard() {
                        // Nothing to say GOAWAY about: closed at once.
                        self.gone_by = Some(crate::timer::last_tick());
                        return None;
                    }
                }
            }
        }
    }

    /// No stream served and a drain, or asked to make room: a drain's GOAWAY
    /// is graceful (a stream the client opens meanwhile is served); making
    /// room, it is at once, no new stream taken (NO_ERROR: the client opens
    /// another connection for its next request), as nginx closes an idle
    /// HTTP/2 connection it reuses.
    fn give_way(&mut self, draining: bool, grace: Duration) {
        match draining {
            true => self.conn.graceful_shutdown(),
            false => self.conn.abrupt_shutdown(h2::Reason::NO_ERROR),
        }
        self.gone_by = Some(crate::timer::deadline_after(grace));
    }

    /// When to look again at whether the connection idled out: when it will
    /// have, or a `limit` from now while a stream is served (or h2 still
    /// holds one whose task has ended, its last bytes unsent).
    fn idle_check(&self, limit: Duration) -> Instant {
        match self.idle.deadline(limit) {
            Some(at) if at > crate::timer::last_tick() || !self.conn.has_streams() => at,
            _ => crate::timer::deadline_after(limit),
        }
    }
}

/// The next stream while fewer tasks are alive than the connection's
/// advertised streams. At the cap the connection is only driven (frames
/// read, responses and resets written): streams opened meanwhile wait in
/// `h2`, a reset one counting against its pending-accept limit, until a
/// task ends (`tasks`).
fn accept(
    conn: &mut h2::server::Connection<io::H2Io, Bytes>,
    tasks: &tasks::Tasks,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<NewStream, h2::Error>>> {
    if tasks.poll_room(cx).is_ready() {
        return conn.poll_accept(cx);
    }
    match conn.poll_closed(cx) {
        Poll::Ready(Ok(())) => Poll::Ready(None),
        Poll::Ready(Err(err)) => Poll::Ready(Some(Err(err))),
        Poll::Pending => Poll::Pending,
    }
}

/// What a new stream's task starts from.
struct StreamStart {
    request: Request<RecvStream>,
    respond: SendResponse<Bytes>,
    /// Held to the task's end: counted among the connection's tasks.
    task: tasks::Task,
    /// Held to the stream's end: the connection is not idle meanwhile.
    serving: idle::Serving,
    shared: Rc<Shared>,
    listener: Rc<ListenerInfo>,
    ctx: Rc<WorkerCtx>,
}

/// One stream, from its head to its end. Its start comes boxed and is
/// taken apart outside the future (`begin`): what an `async fn` holds
/// across its waits stays for the stream's life, a held long-poll's too,
/// and the `Request` alone is some 200 bytes.
async fn serve_stream(start: Box<StreamStart>) {
    let Begun {
        mut client,
        head,
        task,
        _serving,
        shared,
        listener,
        ctx,
    } = match begin(*start) {
        Ok(begun) => begun,
        Err(refusing) => return refusing.await,
    };
    let peer = Peer {
        from: &shared.from,
        local: LocalAddr::Known(shared.local),
        listener: listener.index,
        tls: shared.tls,
        http2: true,
    };
    crate::proxy::one_request::serve(&mut client, head, &peer, &ctx).await;
    // Before `finish`, which resets a stream whose response never started.
    if client.reset_by_client() {
        task.reset_by_client();
    }
    client.finish();
}

/// A stream whose head was translated, ready to be served.
struct Begun {
    client: stream::H2Stream,
    /// The request as an HTTP/1.1 head.
    head: Vec<u8>,
    task: tasks::Task,
    _serving: idle::Serving,
    shared: Rc<Shared>,
    listener: Rc<ListenerInfo>,
    ctx: Rc<WorkerCtx>,
}

/// The answer to a stream whose head can't be translated (rare: boxed).
type Refusing = Pin<Box<dyn Future<Output = ()>>>;

/// Translates a new stream's head, on the newest plan.
fn begin(start: StreamStart) -> Result<Begun, Refusing> {
    let StreamStart {
        request,
        respond,
        task,
        serving,
        shared,
        mut listener,
        mut ctx,
    } = start;
    // Each stream starts on the newest plan, as each HTTP/1.1 request does.
    follow_reload(&mut ctx, &mut listener);
    let (parts, body) = request.into_parts();
    let end_stream = body.is_end_stream();
    let mut head = Vec::with_capacity(512);
    let framing = request::write_head(&parts, end_stream, &mut head);
    crate::contain::note_request(&head);
    let head_request = parts.method == ::http::Method::HEAD;
    match framing {
        Ok(framing) => Ok(Begun {
            client: stream::H2Stream::new(body, respond, framing, head_request),
            head,
            task,
            _serving: serving,
            shared,
            listener,
            ctx,
        }),
        Err(refused) => Err(Box::pin(refuse(
            refused,
            (body, respond),
            task,
            listener.index,
            ctx,
        ))),
    }
}

/// A stream whose head can't be translated: a malformed one is reset
/// (PROTOCOL_ERROR, RFC 9113 §8.1.1), others are answered (the task
/// counted among the connection's until then).
async fn refuse(
    refused: request::Refused,
    (body, mut respond): (RecvStream, SendResponse<Bytes>),
    _task: tasks::Task,
    listener: usize,
    ctx: Rc<WorkerCtx>,
) {
    let status = match refused {
        request::Refused::HostConflict | request::Refused::PaddedValue => {
            return respond.send_reset(h2::Reason::PROTOCOL_ERROR)
        }
        request::Refused::NoHost => 400,
        request::Refused::Method => 501,
        request::Refused::RefusedMethod => 405,
    };
    let mut client = stream::H2Stream::new(body, respond, request::BodyFraming::None, false);
    ctx.stats.answered_locally_over(listener, status, true);
    let response = crate::http::status::error_response(status, false);
    let _ = crate::conn::downstream::Downstream::write_owned(&mut client, response).await;
    client.finish();
}

/// What a held HTTP/2 stream costs is mostly its task's future: keep it
/// small, as `proxy::size_tests` does a connection's.
#[cfg(test)]
mod size_tests {
    /// Bytes of a stream's whole future. With a static reply's send held
    /// inline (its compressor and file state beside every long-poll's
    /// exchange) it was 3328; boxed, as the HTTP/1.1 session boxes it, 2384;
    /// with its start (the `Request` among it) boxed and taken apart
    /// outside the future, and a refusal's answer boxed, 1872; with the
    /// request borrowed by the exchange, not moved in (held once, not three
    /// times), 1608; with `one_request::serve` an `fn` (its arguments held
    /// once), 1560; `Begun` taken apart (its emptied head not kept), 1536.
    const STREAM_FUTURE_MAX: usize = 1552;

    /// The size of the future `serve` returns, without calling it.
    fn output_size<A, F>(_serve: impl FnOnce(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn a_stream_s_future_stays_small() {
        let size = output_size(super::serve_stream);
        assert!(
            size <= STREAM_FUTURE_MAX,
            "a stream's future grew to {size} bytes"
        );
    }
}
