//! The life of one client connection.

use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use monoio::net::TcpStream;

use super::answer::{answer_and_drop_body, log_refusal, refuse, send_static};
use super::exchange;
use super::follow::{follow_reload, listener_removed};
use super::handshake::accept_tls;
use super::prepare::{prepare, LocalAddr, Outcome, Peer, Step};
use super::read_head::{read_head, Between, HeadEnd};
use super::static_open;
use crate::admission::{self, ClientAddr};
use crate::conn::Conn;
use crate::conn::Next;
use crate::http::status::status_of_response;
use crate::listen::ListenerInfo;
use crate::worker_ctx::{ConnectionGuard, WorkerCtx};

/// How long a TLS client may take to accept the close_notify that ends
/// its connection.
const GOODBYE: Duration = Duration::from_secs(1);

/// Not `async fn`: an `async fn`'s arguments stay in its future for the
/// connection's life, the socket (80 bytes) beside the connection made of
/// it. Here the future holds the connection alone.
#[allow(clippy::manual_async_fn)] // on purpose, as said above
pub fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    listener: Rc<ListenerInfo>,
    ctx: Rc<WorkerCtx>,
) -> impl Future<Output = ()> {
    let plain = listener.tls.is_none() && !takes_h2c(&ctx, &listener);
    let opens = !plain || admission::needed(&ctx.plan, listener.index);
    let mut client = Conn::client(stream);
    async move {
        let _counted = ConnectionGuard::new(&ctx);
        let mut _limit_slot = None;
        let from = if opens {
            // Boxed: a handshake's or a PROXY header's state stays out of
            // every connection's future. The connection is made anew in
            // the same place.
            let Some(opened) = Box::pin(open(client, addr, &listener, &ctx)).await else {
                return;
            };
            _limit_slot = opened.slot;
            if opened.http2 {
                // Boxed: an HTTP/2 connection's state stays out of every
                // HTTP/1.1 connection's future.
                let h2 = crate::proxy::http2::serve(opened.conn, opened.client, listener, ctx);
                return Box::pin(h2).await;
            }
            client = opened.conn;
            // The client a PROXY header names (and the header, boxed)
            // replaces the peer: a second address would grow every
            // connection's future.
            opened.client
        } else {
            ClientAddr::Peer(addr)
        };
        converse(&mut client, from, listener, ctx).await;
        // Every orderly end of a TLS connection (a response with close, an
        // idle or header timeout, a refusal, a drain, a tunnel's end) says
        // close_notify first; tern's own half-closes have said it already.
        if client.is_tls() {
            let _ = crate::timer::timeout(GOODBYE, client.close_notify()).await;
        }
    }
}

/// A connection let in by `admission`, past its TLS handshake if any.
struct Opened {
    conn: Conn,
    client: ClientAddr,
    slot: Option<admission::Slot>,
    /// It goes on as HTTP/2 (ALPN `h2`, or an h2c preface).
    http2: bool,
}

/// `fresh`: the accepted socket as a connection that has read nothing yet.
async fn open(
    fresh: Conn,
    peer: SocketAddr,
    listener: &ListenerInfo,
    ctx: &WorkerCtx,
) -> Option<Opened> {
    let admitted = admission::admit(fresh.stream, peer, &ctx.plan, listener.index).await?;
    let limit = ctx.plan.client_timeouts.header;
    let mut conn = match &listener.tls {
        None => Conn::client(admitted.stream),
        Some(config) => accept_tls(admitted.stream, config.clone(), limit).await?,
    };
    if conn.tls_mut().is_some_and(|tls| tls.chose_acme_tls()) {
        // A TLS-ALPN-01 validation: the handshake was all of it (RFC 8737
        // §3), so it ends there, with close_notify, and no HTTP is read.
        let _ = crate::timer::timeout(GOODBYE, conn.close_notify()).await;
        return None;
    }
    let http2 = match conn.tls_mut() {
        Some(tls) => tls.chose_h2(),
        None => takes_h2c(ctx, listener) && h2c_preface(&mut conn, limit).await,
    };
    Some(Opened {
        conn,
        client: admitted.client,
        slot: admitted.slot,
        http2,
    })
}

/// A plain listener with `http2 = true`: HTTP/2 with prior knowledge.
fn takes_h2c(ctx: &WorkerCtx, listener: &ListenerInfo) -> bool {
    listener.tls.is_none()
        && ctx
            .plan
            .listeners
            .get(listener.index)
            .is_some_and(|l| l.http2)
}

/// Reads the first bytes (readiness first, holding no buffer while the
/// client is silent) until they are, or can't be, the HTTP/2 connection
/// preface. What was read stays buffered for whichever protocol follows.
async fn h2c_preface(conn: &mut Conn, limit: Duration) -> bool {
    let preface = crate::proxy::http2::PREFACE;
    let read = async {
        // Each read adds at least a byte: bounded by the preface's length.
        for _ in 0..preface.len() {
            let buffered = conn.buffered();
            if buffered.len() >= preface.len() || !preface.starts_with(buffered) {
                break;
            }
            match conn.wait_and_fill(false, crate::buffer::BUF_SIZE).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        conn.buffered().starts_with(preface)
    };
    crate::timer::timeout(limit, read).await.unwrap_or(false)
}

/// Requests and responses on one connection, until it is to close.
///
/// Not `async fn`: its arguments would be held twice for the connection's
/// life (as passed, and moved into the body).
#[allow(clippy::manual_async_fn)] // on purpose, as said above
fn converse(
    client: &mut Conn,
    from: ClientAddr,
    mut listener: Rc<ListenerInfo>,
    mut ctx: Rc<WorkerCtx>,
) -> impl Future<Output = ()> + '_ {
    async move {
        let mut first = true;
        let mut between = Between::default();
        loop {
            let head_len = match read_head(client, &ctx, first, &mut between).await {
                Ok(len) => len,
                Err(HeadEnd::Closed) => return,
                Err(HeadEnd::Reject(failure)) => {
                    ctx.stats.answered_locally(listener.index, failure.status());
                    log_refusal(&ctx, client.buffered(), *from.addr(), failure);
                    return refuse(client, failure.status()).await;
                }
            };
            first = false;
            crate::contain::note_request(&client.buffered()[..head_len]);
            follow_reload(&mut ctx, &mut listener);
            // The request's outcome is all this future keeps of the making
            // (`outcome_of`'s state lies in the place of the exchange's).
            let Some(mut outcome) = outcome_of(client, head_len, &from, &listener, &ctx).await
            else {
                return;
            };
            client.consume(head_len);
            let next = match outcome {
                // Borrowed: the request stays in this one place while it
                // waits upstream.
                Outcome::Proxy(ref mut req) => exchange::proxy(client, req, &ctx).await,
                Outcome::Answer {
                    response,
                    close,
                    body,
                } => {
                    ctx.stats
                        .answered_locally(listener.index, status_of_response(&response));
                    let wait = ctx.plan.client_timeouts.inflight;
                    answer_and_drop_body(client, response, close, body, wait).await
                }
                Outcome::Static { reply, body } => {
                    let wait = ctx.plan.client_timeouts.inflight;
                    // Boxed: a file transfer's state stays out of every
                    // connection's future.
                    Box::pin(send_static(client, reply, body, wait)).await
                }
            };
            if next == Next::Close || ctx.drain.is_draining() || listener_removed(&ctx, &listener) {
                return;
            }
        }
    }
}

/// What to do with the request whose head is the first `head_len` bytes
/// buffered; `None` when it was refused (answered, and the connection is
/// to close).
async fn outcome_of(
    client: &mut Conn,
    head_len: usize,
    from: &ClientAddr,
    listener: &ListenerInfo,
    ctx: &WorkerCtx,
) -> Option<Outcome> {
    let prepared = {
        let peer = Peer {
            from,
            local: LocalAddr::Socket(&client.stream),
            listener: listener.index,
            tls: client.is_tls(),
            http2: false,
        };
        // `peer` and `head` are held across no await but a static answer's
        // wait for a file thread.
        let head = &client.buffered()[..head_len];
        match prepare(head, &peer, ctx) {
            Ok(Step::Ready(outcome)) => Ok(outcome),
            // Boxed: rare, and its state stays out of every connection's
            // future.
            Ok(Step::Opening(opening)) => {
                Box::pin(static_open::settle(opening, head, &peer, ctx)).await
            }
            Err(failure) => Err(failure),
        }
    };
    match prepared {
        Ok(outcome) => Some(outcome),
        // A head that doesn't parse leaves the framing unknown: close.
        Err(failure) => {
            ctx.stats.answered_locally(listener.index, failure.status());
            log_refusal(ctx, &client.buffered()[..head_len], *from.addr(), failure);
            refuse(client, failure.status()).await;
            None
        }
    }
}
