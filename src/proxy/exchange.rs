//! One request/response exchange with an upstream: get a connection
//! (`acquire`), send the request, relay the response; retry once on a fresh connection when a
//! pooled one turns out dead before answering and a retry is safe.

use std::future::Future;
use std::time::Duration;

use crate::timer::timeout;

use super::acquire::{acquire, Attempts};
use super::downstream::Downstream;
use super::failure_log::upstream_failed;
use super::prepare::Prepared;
use super::relay::{relay_response, Relay};
use super::session::send_answer;
use crate::buffer::{BIG_BUF_SIZE, BUF_SIZE};
use crate::conn::Conn;
use crate::conn::Next;

/// Input fed to a chunked decoder at once, so its re-framed output stays
/// within one big buffer.
pub const FEED_MAX: usize = BIG_BUF_SIZE / 4;
use crate::config::Backend;
use crate::http::status::error_response;
use crate::http::{chunked::ChunkedReframer, status, BodyKind};
use crate::worker_ctx::WorkerCtx;

/// The status logged for a request whose client left before its answer
/// (nginx's 499 "client closed request"; no client ever receives it).
pub const CLIENT_CLOSED: u16 = 499;

/// A body no larger than this that is already buffered goes out with the head.
const INLINE_BODY_MAX: u64 = 64 * 1024;

enum SendError {
    Upstream,
    Client,
    Malformed,
}

pub async fn proxy<C: Downstream>(client: &mut C, mut req: Prepared, ctx: &WorkerCtx) -> Next {
    let sent_before = client.sent();
    let next = exchange(client, &mut req, ctx).await;
    req.meter.sent(client.sent() - sent_before);
    next
}

async fn exchange<C: Downstream>(client: &mut C, req: &mut Prepared, ctx: &WorkerCtx) -> Next {
    let backend = &ctx.plan.backends[req.backend];
    // Body bytes that came with the head are checked before any upstream
    // is contacted: a bad chunk refused after the head went out would leave
    // an application acting on a request tern refused.
    if req.body == BodyKind::Chunked && ChunkedReframer::check_prefix(client.buffered()).is_err() {
        return fail(client, req, 400).await;
    }
    let continue_sent = req.expect_continue && !req.body.is_empty() && client.buffered().is_empty();
    if continue_sent
        && client
            .write_owned(status::CONTINUE.to_vec())
            .await
            .0
            .is_err()
    {
        return Next::Close;
    }
    if continue_sent {
        req.meter.sent(status::CONTINUE.len() as u64);
    }
    // Only a request that can be sent again whole: idempotent, no body
    // (a body streamed from the client can't be read twice).
    let retry_safe = req.body.is_empty() && req.idempotent;
    let mut attempts = Attempts::new(backend);
    let mut fresh_only = false;
    loop {
        req.meter.upstream_begins();
        let mut upstream = match Box::pin(acquire(ctx, req, fresh_only, &mut attempts)).await {
            Ok(upstream) => upstream,
            Err(status) => return answer_failure(client, req, status, ctx).await,
        };
        req.meter.using_server(upstream.in_flight.server_id());
        let position = usize::from(upstream.position);
        // A pooled connection the upstream closed while it idled: no
        // verdict on the server, and a fresh connection costs no attempt.
        let stale = upstream.reused && !fresh_only;
        let may_retry = retry_safe && (stale || attempts.remain());
        match send_request(client, &mut upstream.conn, req, backend, ctx).await {
            // The head is only kept for a retry; a long-poll may wait for
            // minutes, so free it now when there can be none.
            Ok(()) if !may_retry => req.upstream_head = Vec::new(),
            Ok(()) => {}
            Err(SendError::Upstream) => {
                fresh_only |= stale;
                if may_retry && (stale || attempts.no_answer_from(position)) {
                    continue;
                }
                let server = &backend.servers[position];
                upstream_failed(ctx, req, server, &"sending the request failed");
                return fail(client, req, 502).await;
            }
            Err(SendError::Client) => return Next::Close,
            Err(SendError::Malformed) => return fail(client, req, 400).await,
        }
        let answering = (backend, upstream.position);
        let position = usize::from(upstream.position);
        let relayed = relay_response(
            client,
            &mut upstream.conn,
            req,
            answering,
            ctx,
            continue_sent,
        )
        .await;
        note_outcome(ctx, req.backend, position, &relayed, stale);
        match relayed {
            Relay::Done { reusable, next, .. } => {
                if reusable && !upstream.private && !req.unframed_body {
                    ctx.pool.put(upstream.in_flight.server_id(), upstream.conn);
                }
                return next;
            }
            Relay::NoResponse if may_retry && stale => fresh_only = true,
            Relay::NoResponse if may_retry && attempts.no_answer_from(position) => {
                let cause = "closed the connection without a response; retrying";
                upstream_failed(ctx, req, &backend.servers[position], &cause);
            }
            Relay::NoResponse => {
                let cause = "closed the connection without a response";
                upstream_failed(ctx, req, &answering.0.servers[position], &cause);
                return fail(client, req, 502).await;
            }
            Relay::Failed(status) => {
                let cause = match status {
                    504 => "sent no response head within the server timeout",
                    _ => "sent an invalid response head",
                };
                upstream_failed(ctx, req, &answering.0.servers[position], &cause);
                return fail(client, req, status).await;
            }
            Relay::Aborted => return Next::Close,
            Relay::ClientGone => return client_gone(req, ctx),
        }
    }
}

/// No upstream could be had (502/503/504): answered at once.
async fn answer_failure<C: Downstream>(
    client: &mut C, req: &Prepared, status: u16, ctx: &WorkerCtx) -> Next {
    // Nothing of the body was read yet: only an empty one lets the
    // connection go on to the next request.
    let keep = req.body.is_empty() && req.client.keep_alive && !ctx.drain.is_draining();
    if !keep {
        return fail(client, req, status).await;
    }
    let response = error_response(status, false);
    req.meter.answered(status, response.len() as u64);
    send_answer(client, response, false).await
}

/// The client left while its request waited: the upstream connection is
/// closed (dropped with the exchange), which aborts the request there and
/// frees the server's slot. Logged as 499, as nginx does.
fn client_gone(req: &Prepared, ctx: &WorkerCtx) -> Next {
    let backend = &ctx.plan.backends[req.backend];
    crate::log::debug(format_args!(
        "client closed its connection while its request waited on backend {}; request aborted",
        backend.name
    ));
    req.meter.answered(CLIENT_CLOSED, 0);
    Next::Close
}

/// Passive checks: a 5xx or no answer counts against the server, a good
/// answer clears its count; a pooled connection that died is no verdict.
/// `stale`: the connection came from the pool, so its dying says nothing
/// about the server now.
fn note_outcome(ctx: &WorkerCtx, backend: usize, position: usize, relayed: &Relay, stale: bool) {
    let backend = &ctx.plan.backends[backend];
    let Some(server) = backend.servers.get(position) else {
        return;
    };
    match relayed {
        Relay::Done { status, .. } if *status < 500 => ctx.upstreams.note_success(server),
        Relay::NoResponse if stale => {}
        Relay::Aborted | Relay::ClientGone => {}
        _ => ctx.upstreams.note_failure(backend, server),
    }
}

/// Answers an upstream failure; the connection closes because the request
/// body may not have been read to its end. Not `async fn`: the request is
/// metered at once, and the future doesn't carry `req`.
fn fail<'c, C: Downstream>(
    client: &'c mut C,
    req: &Prepared,
    status: u16,
) -> impl Future<Output = Next> + 'c {
    let response = error_response(status, true);
    req.meter.answered(status, response.len() as u64);
    async move {
        send_answer(client, response, true).await;
        Next::Close
    }
}

async fn send_request<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    req: &mut Prepared,
    backend: &Backend,
    ctx: &WorkerCtx,
) -> Result<(), SendError> {
    let mut head = std::mem::take(&mut req.upstream_head);
    let inline = match req.body {
        BodyKind::Length(n) if n <= INLINE_BODY_MAX && n as usize <= client.buffered().len() => {
            head.extend_from_slice(&client.buffered()[..n as usize]);
            client.consume(n as usize);
            true
        }
        _ => req.body.is_empty(),
    };
    let written = timeout(backend.timeouts.server, upstream.write_owned(head)).await;
    let Ok((result, head)) = written else {
        return Err(SendError::Upstream);
    };
    req.upstream_head = head;
    result.map_err(|_| SendError::Upstream)?;
    if inline {
        return Ok(());
    }
    let waits = Waits {
        client: ctx.plan.client_timeouts.inflight,
        upstream: backend.timeouts.server,
    };
    client.set_large_reads(is_large(req.body));
    let sent = match req.body {
        BodyKind::Length(n) => Box::pin(send_length(client, upstream, n, waits)).await,
        BodyKind::Chunked => Box::pin(send_chunked(client, upstream, waits)).await,
        BodyKind::None | BodyKind::UntilClose => Ok(()),
    };
    client.set_large_reads(false);
    sent
}

/// Bodies that may not fit one normal buffer stream through big ones.
pub fn is_large(body: BodyKind) -> bool {
    match body {
        BodyKind::Length(n) => n > BUF_SIZE as u64,
        BodyKind::Chunked | BodyKind::UntilClose => true,
        BodyKind::None => false,
    }
}

#[derive(Clone, Copy)]
struct Waits {
    client: Duration,
    upstream: Duration,
}

/// Streams exactly `remaining` bytes from the client to the upstream.
async fn send_length<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    mut remaining: u64,
    waits: Waits,
) -> Result<(), SendError> {
    while remaining > 0 {
        if client.buffered().is_empty() {
            read_more(client, waits.client).await?;
        }
        let take = client
            .buffered()
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        timeout(waits.upstream, client.send_buffered(take, upstream))
            .await
            .map_err(|_| SendError::Upstream)?
            .map_err(|_| SendError::Upstream)?;
        remaining -= take as u64;
    }
    Ok(())
}

/// Streams a chunked body, decoded strictly and re-framed on the way.
async fn send_chunked<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    waits: Waits,
) -> Result<(), SendError> {
    let mut decoder = ChunkedReframer::default();
    let mut out = crate::buffer::take_big();
    loop {
        if client.buffered().is_empty() {
            read_more(client, waits.client).await?;
        }
        let input = &client.buffered()[..client.buffered().len().min(FEED_MAX)];
        let consumed = decoder
            .feed(input, &mut out)
            .map_err(|_| SendError::Malformed)?;
        client.consume(consumed);
        let done = decoder.is_done();
        let flush = done || out.len() >= BIG_BUF_SIZE / 2 || client.buffered().is_empty();
        if flush && !out.is_empty() {
            let written = timeout(waits.upstream, upstream.write_owned(out)).await;
            let Ok((result, mut flushed)) = written else {
                return Err(SendError::Upstream);
            };
            result.map_err(|_| SendError::Upstream)?;
            flushed.clear();
            out = flushed;
        }
        if done {
            crate::buffer::give(out);
            return Ok(());
        }
    }
}

async fn read_more<C: Downstream>(client: &mut C, wait: Duration) -> Result<(), SendError> {
    match timeout(wait, client.fill(BUF_SIZE)).await {
        Ok(Ok(n)) if n > 0 => Ok(()),
        _ => Err(SendError::Client),
    }
}
