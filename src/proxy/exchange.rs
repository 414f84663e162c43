//! One request/response exchange with an upstream: get a connection
//! (`acquire`), send the request, relay the response; retry once on a fresh connection when a
//! pooled one turns out dead before answering and a retry is safe.
//!
//! The connection goes back to the pool as soon as the upstream has sent
//! the whole response: a small response's write to the client comes after
//! (`relay::Unsent`), so a request in the same loop turn can reuse it.

use crate::timer::timeout;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::acquire::{acquire, Attempts, Upstream};
use super::answer::send_answer;
use super::early_answer;
use super::failure_log::upstream_failed;
use super::prepare::Prepared;
use super::pump::{pump_chunked, pump_length, Stop, ToUpstream, Waits};
use super::relay::{relay_response, Relay, Unsent};
use crate::buffer::BUF_SIZE;
use crate::conn::downstream::Downstream;
use crate::conn::Conn;
use crate::conn::Next;

use crate::config::{Backend, Server};
use crate::failure::{Failure, Retry, Source};
use crate::http::chunked::{ChunkError, ChunkedReframer};
use crate::http::status::error_response;
use crate::http::{status, BodyKind};
use crate::peek::{peek, Peeked};
use crate::worker_ctx::WorkerCtx;

/// A body no larger than this that is already buffered goes out with the head.
const INLINE_BODY_MAX: u64 = 64 * 1024;

/// `req` is borrowed, not moved in: a request held upstream for minutes
/// (a long-poll) stays in the one place its driver keeps it.
pub async fn proxy<C: Downstream>(client: &mut C, req: &mut Prepared, ctx: &WorkerCtx) -> Next {
    let sent_before = client.sent();
    let next = exchange(client, req, ctx).await;
    req.meter.sent(client.sent() - sent_before);
    next
}

async fn exchange<C: Downstream>(client: &mut C, req: &mut Prepared, ctx: &WorkerCtx) -> Next {
    let continue_sent = match preflight(client, req, ctx).await {
        Ok(continue_sent) => continue_sent,
        Err(next) => return next,
    };
    let backend = &ctx.plan.backends[req.backend];
    let retry_safe = req.resendable();
    let mut attempts = Attempts::new(backend);
    let mut fresh_only = false;
    // Only the acquire and the attempt are awaited in the loop: the client
    // writes that end the exchange come after it, so the future holds one
    // of them at a time, and no upstream connection while they wait.
    let ending = loop {
        // A client that left (an HTTP/2 stream reset under its task) costs
        // no upstream connection: rapid reset with a delay.
        if client.left(req.abort_on) {
            break Ending::NoUpstream(Failure::ClientLeft);
        }
        req.meter.upstream_begins();
        // `upstream` moves into the attempt; in a block of its own, or the
        // moved-from local would keep 160 bytes of this future across the
        // attempt's await.
        let attempted = {
            let upstream = match acquire(ctx, req, fresh_only, &mut attempts).await {
                Ok(upstream) => upstream,
                Err(failure) => break Ending::NoUpstream(failure),
            };
            req.meter.using_server(upstream.in_flight.server_id());
            // A pooled connection the upstream closed while it idled: no
            // verdict on the server, and a fresh connection costs no attempt.
            let stale = upstream.reused && !fresh_only;
            let may_retry = retry_safe && (stale || attempts.remain());
            attempt(
                client,
                upstream,
                req,
                ctx,
                continue_sent,
                Chances { stale, may_retry },
            )
        };
        let Missed {
            failure,
            position,
            chances,
        } = match attempted.await {
            Ok((unsent, next)) => break Ending::Answered(unsent, next),
            Err(missed) => missed,
        };
        if failure.retry() == Retry::IfIdempotent && chances.may_retry {
            if chances.stale {
                fresh_only = true;
                continue;
            }
            if attempts.no_answer_from(position) {
                let cause = format_args!("{}; retrying", failure.cause());
                upstream_failed(ctx, req, &backend.servers[position], &cause);
                continue;
            }
        }
        break Ending::Failed(failure, position);
    };
    match ending {
        Ending::Answered(unsent, next) => {
            let next = finish(client, unsent, next, ctx).await;
            if req.body_unread {
                // The rest of the body must not reset the answer away.
                // Boxed: rare, and kept out of every connection's future.
                Box::pin(client.linger_close()).await;
            }
            next
        }
        Ending::NoUpstream(failure) => answer_failure(client, req, failure, ctx).await,
        Ending::Failed(failure, position) => {
            let server = &backend.servers[position];
            fail(client, req, failure, Some(server), ctx).await
        }
    }
}

/// How an exchange ends, once no attempt is left to make.
enum Ending {
    /// The upstream answered; what is left of the response to write.
    Answered(Option<Unsent>, Next),
    /// No upstream connection could be had (or the client left before one
    /// was sought).
    NoUpstream(Failure),
    /// The last attempt failed, on the server at this position.
    Failed(Failure, usize),
}

/// Before any upstream is contacted: body bytes that came with the head
/// are checked (a bad chunk refused after the head went out would leave an
/// application acting on a request tern refused), `Expect: 100-continue`
/// is answered when the body is still to come, and a small body is read
/// whole (`gather_small_body`). `Ok`: whether a 100 went out; `Err`: the
/// request ended here.
async fn preflight<C: Downstream>(
    client: &mut C,
    req: &Prepared,
    ctx: &WorkerCtx,
) -> Result<bool, Next> {
    if req.body == BodyKind::Chunked {
        let max = ctx.plan.max_body_bytes(req.meter.route());
        let refused = match ChunkedReframer::check_prefix(client.buffered(), max) {
            Ok(()) => None,
            Err(ChunkError::TooLarge) => Some(Failure::BodyTooLarge),
            Err(_) => Some(Failure::Malformed),
        };
        if let Some(failure) = refused {
            return Err(fail(client, req, failure, None, ctx).await);
        }
    }
    let continue_sent = req.expect_continue && !req.body.is_empty() && client.buffered().is_empty();
    if continue_sent {
        let (written, _) = client.write_owned(status::CONTINUE.to_vec()).await;
        if written.is_err() {
            return Err(Next::Close);
        }
        req.meter.sent(status::CONTINUE.len() as u64);
    }
    let wait = ctx.plan.client_timeouts.inflight;
    if let Err(failure) = gather_small_body(client, req.body, wait).await {
        return Err(fail(client, req, failure, None, ctx).await);
    }
    Ok(continue_sent)
}

/// Reads a body that fits one buffer (by its Content-Length) whole before
/// an upstream is chosen, as nginx buffers request bodies: a client
/// trickling it then holds only its own connection, not an upstream
/// connection and an application's request. Each read waits at most
/// `wait` (the client timeout); larger bodies stream to the upstream as
/// they come (HAProxy's default), and so do chunked ones.
async fn gather_small_body<C: Downstream>(
    client: &mut C,
    body: BodyKind,
    wait: Duration,
) -> Result<(), Failure> {
    let BodyKind::Length(length) = body else {
        return Ok(());
    };
    if is_large(body) {
        return Ok(());
    }
    let length = length as usize;
    while client.buffered().len() < length {
        match timeout(wait, client.fill(length)).await {
            Ok(Ok(read)) if read > 0 => {}
            Ok(_) => return Err(Failure::ClientLeft),
            Err(_elapsed) => return Err(Failure::BodyTimedOut),
        }
    }
    // An HTTP/2 body must end where its content-length says: more DATA
    // in a later frame is a malformed request, not to be sent on.
    if client.body_end_unseen() {
        match timeout(wait, client.await_body_end()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Failure::Malformed),
            Err(_elapsed) => return Err(Failure::BodyTimedOut),
        }
    }
    Ok(())
}

/// What a failed attempt leaves open.
#[derive(Clone, Copy)]
struct Chances {
    /// The connection came from the pool: a failure before any answer
    /// says nothing about the server.
    stale: bool,
    /// The request may be sent again after this attempt.
    may_retry: bool,
}

/// An attempt that failed, on which server, and what it leaves open.
struct Missed {
    failure: Failure,
    position: usize,
    chances: Chances,
}

/// Whether a request with a body whose sending failed was answered all the
/// same: the upstream has sent a final answer and stopped reading (it
/// answered early and closed, or kept the connection open: `early_answer`).
/// Only with a body (a bodiless request is sent whole or retried). A pooled
/// connection is looked at before any request takes it (`upstream::pool`),
/// so what waits there now is this request's answer, not a stale word the
/// server sent as it closed an idle connection. A TLS upstream's bytes
/// can't be told apart unread: any counts.
fn answered_early(failure: Failure, req: &Prepared, upstream: &Conn) -> bool {
    let sending = matches!(failure, Failure::SendFailed | Failure::SendTimedOut);
    if !sending || req.body.is_empty() {
        return false;
    }
    match early_answer::watch_of(upstream) {
        Some(plain) => early_answer::final_answer_waits(plain),
        None => peek(upstream.stream.as_raw_fd()) == Peeked::Bytes,
    }
}

/// One attempt on `upstream`: the request sent, the response relayed, and
/// the connection given back to the pool if it can serve again.
///
/// Not `async fn`: its arguments would be held twice in the future (once
/// as passed, once moved into the body), `upstream` alone 160 bytes.
#[allow(clippy::manual_async_fn)] // on purpose, as said above
fn attempt<'a, C: Downstream>(
    client: &'a mut C,
    mut upstream: Upstream<'a>,
    req: &'a mut Prepared,
    ctx: &'a WorkerCtx,
    continue_sent: bool,
    chances: Chances,
) -> impl Future<Output = Result<(Option<Unsent>, Next), Missed>> + 'a {
    async move {
        let backend = &ctx.plan.backends[req.backend];
        let position = usize::from(upstream.position);
        let missed = |failure| Missed {
            failure,
            position,
            chances,
        };
        if let Err(failure) = send_request(client, &mut upstream.conn, req, backend, ctx).await {
            if !answered_early(failure, req, &upstream.conn) {
                return Err(missed(failure));
            }
            // The upstream answered before it took the whole request, and
            // stopped reading (an application refusing an upload: 413,
            // 401). A client sending a body watches for such an answer
            // (RFC 9112 §9.6): it is relayed, not turned into a 502, and
            // the client's connection ends after it, its body unread.
            req.client.keep_alive = false;
            req.body_unread = true;
        }
        req.meter.request_sent();
        // The head is only kept for a retry, until the upstream answers
        // (`relay_response`); a long-poll may wait for minutes, so keep it
        // at its length (it was made with room for added fields), or free
        // it now when there can be no retry.
        if chances.may_retry {
            req.upstream_head.shrink_to_fit();
        } else {
            req.upstream_head = Vec::new();
        }
        let relayed = relay_response(
            client,
            &mut upstream.conn,
            req,
            (backend, upstream.position),
            ctx,
            continue_sent,
        )
        .await;
        note_outcome(ctx, req.backend, position, &relayed, chances.stale);
        match relayed {
            Relay::Done {
                reusable,
                next,
                unsent,
                ..
            } => {
                if reusable && !upstream.private && !req.unframed_body && !req.body_unread {
                    ctx.pool.put(upstream.in_flight.server_id(), upstream.conn);
                }
                Ok((unsent, next))
            }
            // What looked like an answer was the upstream's end after all.
            Relay::Failed(Failure::NoResponse) if req.body_unread => {
                Err(missed(Failure::SendFailed))
            }
            Relay::Failed(failure) => Err(missed(failure)),
        }
    }
}

/// Writes what is left of a response the upstream has sent whole (its
/// connection is back in the pool). A client that can't take it is closed;
/// the upstream answered, so it is no failure of the exchange.
async fn finish<C: Downstream>(
    client: &mut C,
    unsent: Option<Unsent>,
    next: Next,
    ctx: &WorkerCtx,
) -> Next {
    let Some(unsent) = unsent else {
        return next;
    };
    let wait = ctx.plan.client_timeouts.inflight;
    match unsent.write(client, next, wait).await {
        Ok(()) => next,
        Err(()) => {
            crate::log::debug(format_args!("client did not take the response's end"));
            client.cut_short();
            Next::Close
        }
    }
}

/// No upstream could be had (no server, or every connect failed): answered
/// at once, keeping the connection when nothing of a body is pending. (Or
/// none was sought: the client left, and is only logged.)
async fn answer_failure<C: Downstream>(
    client: &mut C,
    req: &Prepared,
    failure: Failure,
    ctx: &WorkerCtx,
) -> Next {
    // Nothing of the body was read yet: only an empty one lets the
    // connection go on to the next request. A client that left gets no
    // answer.
    let keep = req.body.is_empty() && req.client.keep_alive && !ctx.drain.is_draining();
    if !keep || !failure.answerable() {
        return fail(client, req, failure, None, ctx).await;
    }
    let response = error_response(failure.status(), false);
    req.meter.answered(failure.status(), response.len() as u64);
    send_answer(client, response, false).await
}

/// Passive checks: a 5xx or no answer counts against the server, a good
/// answer clears its count; a pooled connection that died is no verdict,
/// nor is a response cut short or a client that left.
fn note_outcome(ctx: &WorkerCtx, backend: usize, position: usize, relayed: &Relay, stale: bool) {
    let backend = &ctx.plan.backends[backend];
    let Some(server) = backend.servers.get(position) else {
        return;
    };
    match relayed {
        Relay::Done { status, .. } if *status < 500 => ctx.upstreams.note_success(server),
        Relay::Failed(Failure::NoResponse) if stale => {}
        Relay::Failed(Failure::ResponseCut | Failure::ClientLeft | Failure::ClientStalled) => {}
        _ => ctx.upstreams.note_failure(backend, server),
    }
}

/// The end of a failed exchange, decided by the failure alone: the log line
/// (an upstream's failure names `server`), the status metered and logged,
/// and the answer, after which the connection closes (the request body
/// may not have been read to its end). Not `async fn`: the request is
/// metered at once, and the future doesn't carry `req`.
fn fail<'c, C: Downstream>(
    client: &'c mut C,
    req: &Prepared,
    failure: Failure,
    server: Option<&Server>,
    ctx: &WorkerCtx,
) -> impl Future<Output = Next> + 'c {
    match (failure.source(), server) {
        (Source::Upstream, Some(server)) => upstream_failed(ctx, req, server, &failure.cause()),
        _ => crate::log::debug(format_args!(
            "request to backend {} failed: {}",
            ctx.plan.backends[req.backend].name,
            failure.cause()
        )),
    }
    // Once an HTTP/2 stream has its HEADERS, an error answer would read as
    // its body: the response is cut instead.
    let begun = client.response_begun();
    let response = (failure.answerable() && !begun).then(|| error_response(failure.status(), true));
    match (&response, failure) {
        (Some(response), _) => req.meter.answered(failure.status(), response.len() as u64),
        // The status a client that left is logged with (no client gets it).
        (None, Failure::ClientLeft) => req.meter.answered(failure.status(), 0),
        // A response under way keeps the status it began with.
        (None, _) => {}
    }
    async move {
        match response {
            Some(response) => {
                send_answer(client, response, true).await;
            }
            None => client.cut_short(),
        }
        Next::Close
    }
}

async fn send_request<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    req: &mut Prepared,
    backend: &Backend,
    ctx: &WorkerCtx,
) -> Result<(), Failure> {
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
        return Err(Failure::SendTimedOut);
    };
    req.upstream_head = head;
    result.map_err(|_| Failure::SendFailed)?;
    if inline {
        return Ok(());
    }
    let waits = Waits {
        client: ctx.plan.client_timeouts.inflight,
        upstream: backend.timeouts.server,
    };
    client.set_large_reads(is_large(req.body));
    let mut pipe = ToUpstream {
        client: &mut *client,
        upstream,
        waits,
    };
    let sent = match req.body {
        BodyKind::Length(n) => Box::pin(pump_length(&mut pipe, n)).await,
        BodyKind::Chunked => {
            let out = crate::buffer::take_big();
            let decoder = ChunkedReframer::with_limit(ctx.plan.max_body_bytes(req.meter.route()));
            let pumped = pump_chunked(&mut pipe, decoder, out);
            Box::pin(pumped).await.map_err(|stopped| stopped.stop)
        }
        BodyKind::None | BodyKind::UntilClose => Ok(()),
    };
    client.set_large_reads(false);
    sent.map_err(|stop| match stop {
        Stop::Source => Failure::ClientStalled,
        Stop::Sink => Failure::SendFailed,
        Stop::SinkTimedOut => Failure::SendTimedOut,
        Stop::Framing => Failure::Malformed,
        Stop::TooLarge => Failure::BodyTooLarge,
    })
}

/// Bodies that may not fit one normal buffer stream through big ones.
pub fn is_large(body: BodyKind) -> bool {
    match body {
        BodyKind::Length(n) => n > BUF_SIZE as u64,
        BodyKind::Chunked | BodyKind::UntilClose => true,
        BodyKind::None => false,
    }
}
