//! Reading the upstream's response and relaying it to the client: interim
//! responses, the final head, and the body by length, chunks or close.

use std::future::Future;
use std::io;
use std::time::Duration;

use crate::timer::{deadline_after, timeout, timeout_at, Elapsed};

use super::prepare::Prepared;
use super::pump::{pump_chunked, pump_length, ChunkedStop, Stop, ToClient, Waits};
use super::response::edit::response_edit;
use super::response::write::{chunk_until_close, chunked_to_client, ClientHead, ClientSide};
use crate::buffer::{self, BUF_SIZE};
use crate::config::Backend;
use crate::conn::downstream::{Downstream, ResponseStart};
use crate::conn::pieces::Pieces;
use crate::conn::Conn;
use crate::conn::Next;
use crate::failure::Failure;
use crate::http::chunked::{push_chunk, ChunkedReframer, CHUNK_FRAMING_MAX, LAST_CHUNK};
use crate::http::headers::{classify, has_token, list_tokens, FieldKind};
use crate::http::scan::{HeadScanner, Scan};
use crate::http::{response, BodyKind, Version};
use crate::route::AbortOn;
use crate::worker_ctx::WorkerCtx;

/// The largest response head accepted from an upstream.
pub(crate) const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// Response header fields accepted from an upstream.
pub(crate) const MAX_RESPONSE_FIELDS: usize = 128;
/// Interim (1xx) responses accepted before the final one. Each restarts
/// the wait for the server, so without a bound an upstream could hold the
/// exchange and its client past every timeout by sending them without end;
/// one more is a bad response (502). `100 Continue` and `103 Early Hints`
/// come once or twice; `102 Processing`, every so often through a long
/// WebDAV operation: 32 of them at the default server timeout is half an
/// hour.
pub(crate) const MAX_INTERIM_RESPONSES: u8 = 32;

pub enum Relay {
    /// The upstream sent the response whole: it reached the client, or
    /// its end is in `unsent`, to be written once the upstream connection
    /// is back in the pool.
    Done {
        status: u16,
        reusable: bool,
        next: Next,
        unsent: Option<Unsent>,
    },
    /// No response, or not all of it: `NoResponse` when the upstream
    /// closed before a byte, `ResponseCut` when the upstream stopped a
    /// response that had started, `ClientStalled` when the client stopped
    /// taking it, `ClientLeft` when the client went away while the request
    /// waited.
    Failed(Failure),
}

/// The end of a response the upstream has finished sending but the client
/// has not had yet: a small body is gathered whole with its head, and the
/// upstream connection it came on goes back to the pool before the client
/// write. A request that finds the pool empty in the same loop turn can
/// then take it instead of connecting, and a client slow to take the bytes
/// (an HTTP/2 stream's closed window) holds no upstream connection.
/// Its size counts: an exchange's future holds it (a `Pieces`, 32 bytes).
pub struct Unsent {
    pieces: Pieces,
}

impl Unsent {
    /// Writes it to the client within `wait`, ending the connection with it
    /// when `next` is `Close` (`Conn::write_pieces`); `Err` when the client
    /// could not take it.
    pub async fn write<C: Downstream>(
        self,
        client: &mut C,
        next: Next,
        wait: Duration,
    ) -> Result<(), ()> {
        write_pieces(client, self.pieces, next, wait).await
    }
}

enum HeadFail {
    NoBytes,
    TimedOut,
    Bad,
}

/// What the rest of the relay needs from a parsed response head.
struct Meta {
    status: u16,
    body: BodyKind,
    interim: bool,
    reusable: bool,
    client_keep_alive: bool,
    /// The body goes to the client chunked (else decoded, close-delimited).
    client_chunked: bool,
    /// The body goes to the client compressed.
    compress: Option<crate::compress::Encoding>,
}

impl Meta {
    /// An interim response's: nothing follows it but another head.
    fn interim(status: u16) -> Meta {
        Meta {
            status,
            body: BodyKind::None,
            interim: true,
            reusable: true,
            client_keep_alive: true,
            client_chunked: false,
            compress: None,
        }
    }
}

/// `position`: the answering server's place in the backend, for the
/// route's changes to the response head.
///
/// Not `async fn`: its arguments would be held twice while a long-poll
/// waits (as passed, and moved into the body).
#[allow(clippy::manual_async_fn)] // on purpose, as said above
pub fn relay_response<'a, C: Downstream>(
    client: &'a mut C,
    upstream: &'a mut Conn,
    req: &'a mut Prepared,
    (backend, position): (&'a Backend, u16),
    ctx: &'a WorkerCtx,
    continue_sent: bool,
) -> impl Future<Output = Relay> + 'a {
    async move {
        let waits = Waits {
            client: ctx.plan.client_timeouts.inflight,
            upstream: backend.timeouts.server,
        };
        // Interim responses come first: every head before this one was one.
        let mut heads_read: u8 = 0;
        loop {
            let first_head = heads_read == 0;
            // Inline, not a function of its own: a nested future would hold its
            // own copies of these references next to this one's (72 bytes).
            let quick = ctx.backend_is_quick(req.backend);
            // On the meter's clock (the TSC where the kernel trusts it): this
            // wait is timed for every response, `Instant` costs a vDSO call.
            let started_us = ctx.stats.now_us();
            let read = read_response_head(upstream, waits.upstream, quick);
            let read = if first_head && req.abort_on != AbortOn::Never {
                // The first head races the client's leaving: a long-poll whose
                // client is gone frees its upstream at once.
                let limit = ctx.plan.limits.max_head_bytes + 1;
                monoio::select! {
                    read = read => read,
                    _ = client.gone(req.abort_on, req.client.version, limit) => {
                        return Relay::Failed(Failure::ClientLeft)
                    }
                }
            } else {
                read.await
            };
            let waited_us = ctx.stats.now_us().saturating_sub(started_us);
            let head_len = match head_read(read, waited_us, first_head, (ctx, req.backend)) {
                Ok(head_len) => head_len,
                Err(failure) => return Relay::Failed(failure),
            };
            // The upstream answered: the head kept for a retry can't serve
            // one now (a WebSocket, an event stream, would hold it for hours).
            req.upstream_head = Vec::new();
            heads_read = heads_read.saturating_add(1);
            let draining = ctx.drain.is_draining();
            let head = &upstream.buffered()[..head_len];
            let (out, meta) = match tell_head(
                client,
                head,
                req,
                (draining, continue_sent),
                (ctx, backend, position),
            ) {
                Ok(told) => told,
                Err(failure) => return Relay::Failed(failure),
            };
            upstream.consume(head_len);
            if meta.interim {
                if heads_read > MAX_INTERIM_RESPONSES {
                    buffer::give(out);
                    return Relay::Failed(Failure::BadResponse);
                }
                // Empty for an interim response the client must not get, or
                // one an HTTP/2 stream has sent already.
                if out.is_empty() {
                    buffer::give(out);
                    continue;
                }
                if write_out(client, out, waits.client).await.is_err() {
                    return Relay::Failed(Failure::ResponseCut);
                }
                continue;
            }
            if meta.status == 101 {
                // Logged as the client sees it: 200 on an HTTP/2 stream.
                req.meter.switched(client.switched_status());
                return switch_protocols(client, upstream, out, (ctx, backend), waits.client).await;
            }
            req.meter.response_head(meta.status);
            return match body_buffered(upstream, out, &meta) {
                Ok(relay) => relay,
                Err(out) => Box::pin(relay_body(client, upstream, out, &meta, waits)).await,
            };
        }
    }
}

/// A response head's read, as its length or the exchange's failure; the
/// wait for it (`waited_us`) counts into the backend's average.
fn head_read(
    read: Result<usize, HeadFail>,
    waited_us: u64,
    first: bool,
    (ctx, backend): (&WorkerCtx, usize),
) -> Result<usize, Failure> {
    match read {
        Ok(len) => {
            ctx.note_response_wait(backend, waited_us);
            Ok(len)
        }
        Err(HeadFail::NoBytes) if first => Err(Failure::NoResponse),
        Err(HeadFail::TimedOut) => Err(Failure::ResponseTimedOut),
        Err(_) => Err(Failure::BadResponse),
    }
}

/// A 101: its head goes to the client, then bytes flow both ways until
/// either side ends (`Downstream::tunnel`). A tunnel that ran is an answer
/// given, however it ended (a WebSocket's close is its normal end, no
/// failure of the upstream's to log): the connection is no longer HTTP,
/// and neither side is reused. A client that can't take the 101 stalled.
async fn switch_protocols<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    head: Vec<u8>,
    (ctx, backend): (&WorkerCtx, &Backend),
    client_wait: Duration,
) -> Relay {
    if write_out(client, head, client_wait).await.is_err() {
        return Relay::Failed(Failure::ClientStalled);
    }
    // The guard lives in the boxed future, not in every connection's.
    let tunnel = async {
        let _open = ctx.stats.tunnel_opened();
        client.tunnel(upstream, backend.timeouts.tunnel).await
    };
    Box::pin(tunnel).await;
    Relay::Done {
        status: 101,
        reusable: false,
        next: Next::Close,
        unsent: None,
    }
}

/// Parses the head and tells the client's side its version of it
/// (`Downstream::start_response`): what is still to be written (an
/// HTTP/1.1 head in a pooled buffer; nothing for HTTP/2, which sent HEADERS,
/// or for an interim response the client must not get) and what the relay
/// needs.
/// The route's changes are worked out here, synchronously, so that they
/// never live in the relay's future.
fn tell_head<C: Downstream>(
    client: &mut C,
    head: &[u8],
    req: &Prepared,
    (draining, continue_sent): (bool, bool),
    (ctx, backend, position): (&WorkerCtx, &Backend, u16),
) -> Result<(Vec<u8>, Meta), Failure> {
    let edit = req.response.as_deref().and_then(|needs| {
        response_edit(&ctx.plan, needs, backend, req.steer, usize::from(position))
    });
    let mut fields = crate::http::request::field_slots::<MAX_RESPONSE_FIELDS>();
    let mut resp = response::parse(head, &mut fields, req.is_head).map_err(|bad| {
        crate::log::debug(format_args!("bad upstream response: {}", bad.0));
        Failure::BadResponse
    })?;
    // A 100 the client already had from tern is not repeated, and HTTP/1.0
    // clients get no interim responses (RFC 9110 §15.2).
    let skip = (resp.status == 100 && (continue_sent || req.body.is_empty()))
        || req.client.version == Version::Http10;
    if resp.is_interim() && skip {
        return Ok((Vec::new(), Meta::interim(resp.status)));
    }
    // Checked before the client's side is told: HTTP/2 sends HEADERS at once.
    if !relayable(&resp, req, client) {
        return Err(Failure::BadResponse);
    }
    let upstream_body = resp.body;
    let (change, encoding) = super::compress_relay::for_relay(req.compress, &ctx.plan, &mut resp)
        .map_or((None, None), |(change, encoding)| (Some(change), encoding));
    chunk_until_close(&mut resp);
    let (client_chunked, side) = client_framing(client, resp.body, req, draining);
    let told = ClientHead {
        resp: &resp,
        head,
        client: side,
        edit: edit.as_ref(),
        compress: change,
    };
    let start = ResponseStart {
        status: resp.status,
        body: resp.body,
        fields: &told,
    };
    let mut out = buffer::take();
    if client.start_response(&start, &mut out).is_err() {
        buffer::give(out);
        return Err(Failure::ResponseCut);
    }
    let meta = Meta {
        status: resp.status,
        body: upstream_body,
        interim: resp.is_interim(),
        reusable: resp.reusable,
        client_keep_alive: side.keep_alive,
        client_chunked,
        compress: encoding,
    };
    Ok((out, meta))
}

/// Whether this client may be told this head: a 101 only to the protocol
/// the request asked for, no 2xx but a 101 to a WebSocket over HTTP/2, no
/// transfer coding the client can't be told of. Else it is a 502.
fn relayable<C: Downstream>(resp: &response::ResponseHead, req: &Prepared, client: &C) -> bool {
    if resp.status == 101 {
        return switch_allowed(resp, req);
    }
    if !resp.is_interim() && client.refuses_status(resp.status) {
        return false;
    }
    let coded = resp.keep_transfer_encoding && resp.body != BodyKind::None;
    !coded || takes_transfer_codings(client, req)
}

/// Whether a 101 switches to what the request asked for: its `Upgrade`
/// names only protocols the request offered (RFC 9110 §7.8), all of them
/// on the route's list (others were dropped with the request's field).
/// Without this, an upstream could open a tunnel of a protocol the client
/// never asked for, or the route keeps out.
fn switch_allowed(resp: &response::ResponseHead, req: &Prepared) -> bool {
    let Some(offered) = req.upgrade.as_deref() else {
        return false;
    };
    let mut chosen = resp
        .headers
        .iter()
        .filter(|field| classify(field.name.as_bytes()) == FieldKind::Upgrade)
        .flat_map(|field| list_tokens(field.value))
        .peekable();
    chosen.peek().is_some() && chosen.all(|protocol| has_token(offered, protocol))
}

/// Whether the client can be sent a coding other than chunked (`gzip,
/// chunked`): only in `Transfer-Encoding`, which neither an HTTP/1.0 client
/// nor an HTTP/2 stream may get (RFC 9112 §6.1, RFC 9113 §8.2.2). Relayed
/// without it, the body would reach them as something it isn't; such a
/// response is a 502, as HAProxy has it.
fn takes_transfer_codings<C: Downstream>(client: &C, req: &Prepared) -> bool {
    req.client.version == Version::Http11 && client.frames_body()
}

/// How a response body framed as `body` reaches the client: whether a
/// chunked body stays chunked (not to an HTTP/1.0 client, nor on an HTTP/2
/// stream, which frames bodies itself), and whether the client's connection
/// stays open after it (not when the body then ends only with the
/// connection, nor while draining).
fn client_framing<C: Downstream>(
    client: &C,
    body: BodyKind,
    req: &Prepared,
    draining: bool,
) -> (bool, ClientSide) {
    let chunked = chunked_to_client(body, req.client.version) && client.frames_body();
    let close_delimited = body == BodyKind::UntilClose || (body == BodyKind::Chunked && !chunked);
    let side = ClientSide {
        version: req.client.version,
        keep_alive: req.client.keep_alive && !close_delimited && !draining,
    };
    (chunked, side)
}

/// Reads one response head. `quick`: this backend usually answers fast, so
/// the first read may be posted with a buffer (see `Conn::wait_and_fill`).
/// Returns the head's length.
///
/// Not `async fn`, and the scanner made after the first wait: a long-poll
/// waits in here, so what this future holds meanwhile is every held
/// connection's cost.
#[allow(clippy::manual_async_fn)] // on purpose, as said above
fn read_response_head(
    upstream: &mut Conn,
    wait: Duration,
    quick: bool,
) -> impl Future<Output = Result<usize, HeadFail>> + '_ {
    let deadline = deadline_after(wait);
    async move {
        if upstream.buffered().is_empty() {
            // A long-poll waits here for minutes, holding no buffer unless quick.
            match timeout_at(
                deadline,
                upstream.wait_and_fill(quick, MAX_RESPONSE_HEAD + 1),
            )
            .await
            {
                Err(_) => return Err(HeadFail::TimedOut),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadFail::NoBytes),
                Ok(Ok(_)) => {}
            }
        }
        let mut scanner = HeadScanner::default();
        loop {
            match scanner.scan(upstream.buffered()) {
                Scan::Complete { head_len } => return Ok(head_len),
                Scan::BareLineEnding => return Err(HeadFail::Bad),
                Scan::Partial { .. } if upstream.buffered().len() > MAX_RESPONSE_HEAD => {
                    return Err(HeadFail::Bad)
                }
                Scan::Partial { .. } => {}
            }
            match timeout_at(deadline, upstream.fill(MAX_RESPONSE_HEAD + 1)).await {
                Err(_) => return Err(HeadFail::TimedOut),
                Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadFail::Bad),
                Ok(Ok(_)) => {}
            }
        }
    }
}

async fn relay_body<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    out: Vec<u8>,
    meta: &Meta,
    waits: Waits,
) -> Relay {
    upstream.set_large_reads(super::exchange::is_large(meta.body));
    let relayed = match meta.body {
        _ if meta.compress.is_some() => compressed(client, upstream, out, meta, waits)
            .await
            .map(|()| None),
        BodyKind::None | BodyKind::Length(0) => Ok(Some(Pieces::whole(out))),
        BodyKind::Length(n) => relay_length(client, upstream, out, n, waits).await,
        BodyKind::Chunked => {
            let decoder = if meta.client_chunked {
                ChunkedReframer::default()
            } else {
                ChunkedReframer::decode_only()
            };
            relay_chunked(client, upstream, out, decoder, waits)
                .await
                .map(|()| None)
        }
        BodyKind::UntilClose => {
            let relayed = relay_until_close(client, upstream, out, meta.client_chunked, waits);
            midway(relayed.await).map(|()| None)
        }
    };
    ended(relayed, upstream, meta)
}

/// The response whose body came whole with its head (or has none), the
/// common small answer: relayed without `relay_body`'s boxed future, an
/// allocation per request; `out` back when the body is still to come.
fn body_buffered(upstream: &mut Conn, out: Vec<u8>, meta: &Meta) -> Result<Relay, Vec<u8>> {
    let buffered = upstream.buffered().len();
    let body = match meta.body {
        _ if meta.compress.is_some() => return Err(out),
        BodyKind::None => 0,
        BodyKind::Length(n) => match usize::try_from(n) {
            Ok(n) if n <= buffered => n,
            _ => return Err(out),
        },
        BodyKind::Chunked | BodyKind::UntilClose => return Err(out),
    };
    let total = out.len() + body;
    if total > ONE_WRITE_MAX {
        return Err(out);
    }
    upstream.set_large_reads(super::exchange::is_large(meta.body));
    // All of it buffered: taken without a read, so it can't fail.
    let gathered = gather_small_body(upstream, out, body);
    Ok(ended(
        gathered.map(|(pieces, _)| Some(pieces)),
        upstream,
        meta,
    ))
}

/// What the relay of a body comes to. `relayed`: the bytes still to write
/// to the client (see `Unsent`), or where the relay was cut.
fn ended(relayed: Result<Option<Pieces>, Cut>, upstream: &Conn, meta: &Meta) -> Relay {
    match relayed {
        Err(Cut::BeforeSending) => Relay::Failed(Failure::BadResponse),
        Err(Cut::Midway) => Relay::Failed(Failure::ResponseCut),
        Err(Cut::ClientStopped) => Relay::Failed(Failure::ClientStalled),
        Ok(unsent) => Relay::Done {
            status: meta.status,
            reusable: meta.reusable && upstream.buffered().is_empty(),
            next: if meta.client_keep_alive {
                Next::KeepAlive
            } else {
                Next::Close
            },
            unsent: unsent.map(|pieces| Unsent { pieces }),
        },
    }
}

/// The body through `compress_relay::relay` (boxed: not the common path).
async fn compressed<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    out: Vec<u8>,
    meta: &Meta,
    waits: Waits,
) -> Result<(), Cut> {
    let Some(encoding) = meta.compress else {
        return Err(Cut::BeforeSending);
    };
    let job = super::compress_relay::Job {
        encoding,
        chunked: meta.client_chunked,
        client: waits.client,
        upstream: waits.upstream,
    };
    let relayed = super::compress_relay::relay(client, upstream, out, meta.body, job);
    Box::pin(relayed).await.map_err(|stop| match stop {
        super::compress_relay::Stop::BeforeSending => Cut::BeforeSending,
        super::compress_relay::Stop::Midway => Cut::Midway,
    })
}

/// Why a body relay stopped short.
enum Cut {
    /// Part of the response reached the client: all that is left is to close.
    Midway,
    /// The same, but because the client stopped taking it (a write failed
    /// or waited past its timeout): no failure of the upstream's, which
    /// is neither logged as one nor counted against its server.
    ClientStopped,
    /// Nothing reached the client yet: it can still be answered 502.
    BeforeSending,
}

fn midway(relayed: Result<(), ()>) -> Result<(), Cut> {
    relayed.map_err(|()| Cut::Midway)
}

/// How a body pumped to the client stopped short: by the client, or else
/// by the upstream.
fn cut_by(stop: Stop) -> Cut {
    match stop {
        Stop::Sink | Stop::SinkTimedOut => Cut::ClientStopped,
        Stop::Source | Stop::Framing | Stop::TooLarge => Cut::Midway,
    }
}

/// Writes a response in pieces to the client (its last bytes when `next` is
/// `Close`) and returns their buffers to the pool.
async fn write_pieces<C: Downstream>(
    client: &mut C,
    pieces: Pieces,
    next: Next,
    wait: Duration,
) -> Result<(), ()> {
    match timeout(wait, client.write_pieces(pieces, next)).await {
        Ok((Ok(()), pieces)) => {
            pieces.give_back();
            Ok(())
        }
        _ => Err(()),
    }
}

/// Writes a pooled buffer to the client and returns it to the pool.
async fn write_out<C: Downstream>(client: &mut C, out: Vec<u8>, wait: Duration) -> Result<(), ()> {
    give_back(timeout(wait, client.write_owned(out)).await)
}

/// A write's outcome, its buffer returned to the pool when it succeeded.
fn give_back(written: Result<(io::Result<()>, Vec<u8>), Elapsed>) -> Result<(), ()> {
    match written {
        Ok((Ok(()), out)) => {
            buffer::give(out);
            Ok(())
        }
        _ => Err(()),
    }
}

/// A response (head and body by length) up to this size reaches the client
/// in one write when its body's end has already arrived: a 16 KiB body took
/// two reads and two writes, the second of each for its last ~150 bytes.
const ONE_WRITE_MAX: usize = 2 * BUF_SIZE;

/// The head (in `out`) goes out with what is already here of the body in
/// one write, then the rest streams through. An upstream that fails before
/// that first write leaves the client untouched: it can still be answered
/// 502. A small body gathered whole is not written here: it is returned,
/// for the write to follow the upstream connection's return to the pool.
async fn relay_length<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    mut out: Vec<u8>,
    n: u64,
    waits: Waits,
) -> Result<Option<Pieces>, Cut> {
    let small = usize::try_from(n).ok().filter(|&n| {
        n.checked_add(out.len())
            .is_some_and(|total| total <= ONE_WRITE_MAX)
    });
    let (pieces, inline) = match small {
        Some(body) => gather_small_body(upstream, out, body)?,
        None => {
            let room = BUF_SIZE.saturating_sub(out.len());
            let inline = upstream
                .buffered()
                .len()
                .min(room)
                .min(usize::try_from(n).unwrap_or(usize::MAX));
            out.extend_from_slice(&upstream.buffered()[..inline]);
            upstream.consume(inline);
            (Pieces::whole(out), inline)
        }
    };
    if inline as u64 == n {
        return Ok(Some(pieces));
    }
    write_pieces(client, pieces, Next::KeepAlive, waits.client)
        .await
        .map_err(|()| Cut::ClientStopped)?;
    let mut pipe = ToClient {
        upstream,
        client,
        waits,
    };
    pump_length(&mut pipe, n - inline as u64)
        .await
        .map(|()| None)
        .map_err(cut_by)
}

/// Head and body joined in one buffer up to this size; past it, pieces
/// (see `gather_small_body`). Less than `BUF_SIZE`, whose last KiB is room
/// for the head of a 16 KiB body, which goes out in pieces.
const JOIN_AT_MOST: usize = 16 * 1024;

/// Gathers behind `head` (tern's response head) the `body` bytes that are
/// buffered, and those the upstream's socket already holds, without
/// waiting: a body that trickles in still streams. Returns the response so
/// far and how many body bytes it holds.
///
/// A response of up to `JOIN_AT_MOST` bytes is copied into the head's
/// pooled buffer: one buffer to write, measured cheaper than a write in
/// three pieces up to 12 KiB bodies. A larger one's buffered body is left
/// in the upstream's buffer (`Pieces`), which cut tern's CPU per 16 KiB
/// response by 7% (bench/README.md, *Larger responses*).
fn gather_small_body(
    upstream: &mut Conn,
    head: Vec<u8>,
    body: usize,
) -> Result<(Pieces, usize), Cut> {
    let buffered = upstream.buffered().len();
    let fits = head.len() + body <= JOIN_AT_MOST.min(head.capacity());
    let (mut pieces, mut gathered) = if !fits && (1..=body).contains(&buffered) {
        let (buffer, from) = upstream.take_buffer();
        (Pieces::new(head, buffer, from), buffered)
    } else {
        (Pieces::whole(head), 0)
    };
    pieces.make_room(body - gathered);
    let copied = upstream.buffered().len().min(body - gathered);
    pieces
        .end_mut()
        .extend_from_slice(&upstream.buffered()[..copied]);
    upstream.consume(copied);
    gathered += copied;
    while gathered < body {
        match upstream.read_now_into(pieces.end_mut(), body - gathered) {
            Ok(Some(read)) if read > 0 => gathered += read,
            Ok(None) => break,
            Ok(Some(_)) | Err(_) => return Err(Cut::BeforeSending),
        }
    }
    Ok((pieces, gathered))
}

/// Relays a chunked body, re-framed (or decoded, for HTTP/1.0 clients).
/// Bad framing from the upstream (an absurd chunk size, a missing CRLF)
/// seen before the first write to the client becomes a 502 instead of an
/// empty close; `out` holds the response head until that first write.
async fn relay_chunked<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    out: Vec<u8>,
    decoder: ChunkedReframer,
    waits: Waits,
) -> Result<(), Cut> {
    let mut pipe = ToClient {
        upstream,
        client,
        waits,
    };
    pump_chunked(&mut pipe, decoder, out)
        .await
        .map_err(|stopped| match stopped {
            ChunkedStop {
                stop: Stop::Source | Stop::Framing | Stop::TooLarge,
                wrote: false,
            } => Cut::BeforeSending,
            ChunkedStop { stop, .. } => cut_by(stop),
        })
}

/// A body that ends with the upstream's connection. `chunked` for an
/// HTTP/1.1 client (see `tell_head`): its end is then the last chunk,
/// written when the upstream closes, so a body cut short by a reset or a
/// timeout ends without one and the client can tell. Each read is copied
/// into a chunk of its own: such upstreams are rare, and one write per
/// piece beats three.
async fn relay_until_close<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    out: Vec<u8>,
    chunked: bool,
    waits: Waits,
) -> Result<(), ()> {
    write_out(client, out, waits.client).await?;
    loop {
        if upstream.buffered().is_empty() {
            match timeout(waits.upstream, upstream.fill(BUF_SIZE)).await {
                Ok(Ok(0)) if chunked => {
                    return write_out(client, LAST_CHUNK.to_vec(), waits.client).await
                }
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => {}
                _ => return Err(()),
            }
        }
        if chunked {
            write_out(client, next_chunk(upstream), waits.client).await?;
        } else {
            let take = upstream.buffered().len();
            match timeout(waits.client, client.take_from(upstream, take)).await {
                Ok(Ok(())) => {}
                _ => return Err(()),
            }
        }
    }
}

/// What the upstream's buffer holds, taken from it as one chunk.
fn next_chunk(upstream: &mut Conn) -> Vec<u8> {
    let mut chunk = buffer::take();
    let room = chunk.capacity().saturating_sub(CHUNK_FRAMING_MAX).max(1);
    let data = upstream.buffered();
    let n = data.len().min(room);
    push_chunk(&mut chunk, &data[..n]);
    upstream.consume(n);
    chunk
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::{gather_small_body, JOIN_AT_MOST};
    use crate::conn::pair::with_pair;

    /// Gathers a `body`-byte response from the upstream's buffer behind a
    /// 100-byte head of tern's, as the relay does once the upstream's head
    /// is consumed; whether it came out whole, and its length.
    fn gathered(body: usize) -> (bool, usize) {
        let mut result = (false, 0);
        with_pair(async |mut upstream, mut origin| {
            origin.write_all(&vec![b'b'; body]).expect("write");
            std::thread::sleep(std::time::Duration::from_millis(50));
            upstream.fill(crate::buffer::BUF_SIZE).await.expect("read");
            let mut head = crate::buffer::take();
            head.extend_from_slice(&[b'h'; 100]);
            let Ok((pieces, got)) = gather_small_body(&mut upstream, head, body) else {
                panic!("the body was there to gather");
            };
            assert_eq!(got, body);
            result = (pieces.is_whole(), pieces.len());
        });
        result
    }

    /// Joined up to `JOIN_AT_MOST`; a 16 KiB body is left where it was read
    /// (cheaper than copying it), though the buffer has room for it.
    #[test]
    fn a_small_body_is_joined_to_the_head_and_a_16_kib_one_sent_in_pieces() {
        assert_eq!(gathered(JOIN_AT_MOST - 100), (true, JOIN_AT_MOST));
        assert_eq!(gathered(16 * 1024), (false, 100 + 16 * 1024));
    }
}
