//! A proxied body compressed on its way to the client. The upstream's
//! body is read by its own framing (length, chunks, close), decoded, fed
//! to the encoder in steps of at most `STEP` bytes, and what the encoder
//! has made is sent whenever tern is about to wait for the upstream: each
//! upstream read reaches the client at once, which is what a long-poll or
//! an event stream needs. Output also goes out once half a big buffer
//! has gathered, so the buffers never grow.

use std::time::Duration;

use crate::buffer::{self, BIG_BUF_SIZE, BUF_SIZE};
use crate::compress::decide::for_response;
use crate::compress::head::Change;
use crate::compress::{Encoder, Encoding, Pending, STEP};
use crate::config::Plan;
use crate::conn::downstream::Downstream;
use crate::conn::Conn;
use crate::http::chunked::ChunkedReframer;
use crate::http::response::ResponseHead;
use crate::http::BodyKind;
use crate::route::Action;
use crate::timer::timeout;

/// Why a compressed relay stopped short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Nothing reached the client yet: it can still be answered 502.
    BeforeSending,
    /// Part of the response went out: all that is left is to close.
    Midway,
}

/// The client's side: `chunked` for HTTP/1.1 clients (else the body ends
/// with the connection); `client` and `upstream`: how long each may stall.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    pub encoding: Encoding,
    pub chunked: bool,
    pub client: Duration,
    pub upstream: Duration,
}

/// Relays the upstream's body (`body`, its framing) compressed, after
/// `head`, the client's response head.
pub async fn relay<C: Downstream>(
    client: &mut C,
    upstream: &mut Conn,
    head: Vec<u8>,
    body: BodyKind,
    job: Job,
) -> Result<(), Stop> {
    let mut out = Output::new(head, job);
    let mut source = Source::new(body);
    loop {
        if source.feed(upstream, &mut out)? {
            return out.finish(client).await;
        }
        if out.wire.len() >= BIG_BUF_SIZE / 2 {
            out.send(client).await?;
        }
        if upstream.buffered().is_empty() {
            // About to wait: what came so far goes to the client now.
            out.flush(client).await?;
            match timeout(job.upstream, upstream.fill(BUF_SIZE)).await {
                Ok(Ok(0)) if body == BodyKind::UntilClose => return out.finish(client).await,
                Ok(Ok(n)) if n > 0 => {}
                _ => return Err(out.stop()),
            }
        }
    }
}

/// The upstream's body as its framing delivers it: the chunk decoder and
/// its output, or what is left of a length.
struct Source {
    body: BodyKind,
    decoder: ChunkedReframer,
    /// Decoded chunk data, when the upstream sends chunks; back to the
    /// pool however the relay ends.
    plain: buffer::Held,
    remaining: u64,
}

impl Source {
    fn new(body: BodyKind) -> Source {
        let mut plain = buffer::Held::default();
        if body == BodyKind::Chunked {
            *plain = buffer::take();
        }
        Source {
            body,
            decoder: ChunkedReframer::decode_only(),
            plain,
            remaining: match body {
                BodyKind::Length(n) => n,
                _ => 0,
            },
        }
    }

    /// Feeds the encoder what the upstream has buffered, at most `STEP`
    /// bytes of it; true once the body is complete.
    fn feed(&mut self, upstream: &mut Conn, out: &mut Output) -> Result<bool, Stop> {
        let buffered = upstream.buffered();
        let input = &buffered[..buffered.len().min(STEP)];
        match self.body {
            BodyKind::Chunked => {
                let fed = self.decoder.feed(input, &mut self.plain);
                let consumed = fed.map_err(|_| out.stop())?;
                upstream.consume(consumed);
                out.write(&self.plain)?;
                self.plain.clear();
                Ok(self.decoder.is_done())
            }
            BodyKind::Length(_) => {
                let take = input
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                out.write(&input[..take])?;
                upstream.consume(take);
                self.remaining -= take as u64;
                Ok(self.remaining == 0)
            }
            BodyKind::UntilClose => {
                let take = input.len();
                out.write(input)?;
                upstream.consume(take);
                Ok(false)
            }
            BodyKind::None => Ok(true),
        }
    }
}

/// The encoder and the bytes on their way to the client (the response
/// head first).
struct Output {
    encoder: Option<Encoder>,
    wire: Vec<u8>,
    sent: bool,
    job: Job,
}

impl Output {
    fn new(head: Vec<u8>, job: Job) -> Output {
        let mut wire = buffer::take_big();
        wire.extend_from_slice(&head);
        buffer::give(head);
        Output {
            encoder: Some(Encoder::new(job.encoding)),
            wire,
            sent: false,
            job,
        }
    }

    fn stop(&self) -> Stop {
        if self.sent {
            Stop::Midway
        } else {
            Stop::BeforeSending
        }
    }

    fn write(&mut self, input: &[u8]) -> Result<(), Stop> {
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(self.stop());
        };
        let written = encoder.write(input);
        encoder.drain(&mut self.wire, self.job.chunked);
        written.map_err(|_| self.stop())
    }

    async fn flush<C: Downstream>(&mut self, client: &mut C) -> Result<(), Stop> {
        if let Some(encoder) = self.encoder.as_mut() {
            let flushed = encoder.flush(&mut self.wire, self.job.chunked);
            flushed.map_err(|_| self.stop())?;
        }
        self.send(client).await
    }

    async fn send<C: Downstream>(&mut self, client: &mut C) -> Result<(), Stop> {
        if self.wire.is_empty() {
            return Ok(());
        }
        let wire = std::mem::take(&mut self.wire);
        let written = timeout(self.job.client, client.write_owned(wire)).await;
        // Past this point the client may have part of the response.
        self.sent = true;
        let Ok((Ok(()), mut wire)) = written else {
            return Err(Stop::Midway);
        };
        wire.clear();
        self.wire = wire;
        Ok(())
    }

    async fn finish<C: Downstream>(mut self, client: &mut C) -> Result<(), Stop> {
        if let Some(encoder) = self.encoder.take() {
            let finished = encoder.finish(&mut self.wire, self.job.chunked);
            finished.map_err(|_| self.stop())?;
        }
        self.send(client).await?;
        buffer::give(std::mem::take(&mut self.wire));
        Ok(())
    }
}

/// `for_response` for the relay: when the body is to be compressed,
/// `resp.body` becomes the framing the client gets (chunked; the caller
/// kept the upstream's), and the encoding is returned with the change.
pub fn for_relay(
    pending: Option<Pending>,
    plan: &Plan,
    resp: &mut ResponseHead,
) -> Option<(Change, Option<Encoding>)> {
    let pending = pending?;
    let route = plan.routes.get(usize::try_from(pending.route).ok()?)?;
    let Action::Proxy(proxy) = &route.action else {
        return None;
    };
    let policy = proxy.compress.as_deref()?;
    let change = for_response(policy, pending.ask, resp)?;
    let encoding = change.coding.map(|coding| policy.encoding(coding));
    if encoding.is_some() {
        resp.body = BodyKind::Chunked;
    }
    Some((change, encoding))
}
