//! One HTTP/2 stream as the client's side of an exchange (`Downstream`).
//!
//! Request DATA is handed to the exchange as it arrives, and its
//! flow-control window is released only once the exchange has taken the
//! bytes (sent them upstream): a slow upstream holds the client to its
//! window, never tern to an unbounded buffer. Response bytes go out as DATA
//! only as fast as the client's window opens (`poll_capacity`), so a slow
//! reader holds the exchange, which stops reading its upstream.

use std::future::poll_fn;
use std::io;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use ::http::{Response, StatusCode};
use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};

use super::request::BodyFraming;
use super::response::{self, Framing};
use crate::conn::downstream::{Downstream, ResponseStart};
use crate::conn::Conn;
use crate::http::chunked::push_chunk;
use crate::http::Version;
use crate::route::AbortOn;

/// Rounds of zero capacity tolerated in a row before a write gives up
/// (h2 may wake a writer with no capacity after a SETTINGS change).
const EMPTY_GRANTS: usize = 64;

pub struct H2Stream {
    pub(super) recv: RecvStream,
    framing: BodyFraming,
    /// The request body as the exchange reads it (chunk-framed if
    /// `framing` is `Chunked`); `start..` is unconsumed.
    body: Vec<u8>,
    start: usize,
    /// DATA bytes received whose window is not released yet.
    unreleased: usize,
    /// The client sent END_STREAM (and, chunked, the last chunk is queued).
    body_done: bool,
    respond: Option<SendResponse<Bytes>>,
    send: Option<SendStream<Bytes>>,
    /// Response head bytes not yet complete.
    head: Vec<u8>,
    head_request: bool,
    pub(super) out: Framing,
    sent: u64,
    /// The exchange ended the response short of its end (`cut_short`).
    cut: bool,
}

impl H2Stream {
    pub fn new(
        recv: RecvStream,
        respond: SendResponse<Bytes>,
        framing: BodyFraming,
        head_request: bool,
    ) -> Self {
        H2Stream {
            recv,
            framing,
            body: Vec::new(),
            start: 0,
            unreleased: 0,
            body_done: matches!(framing, BodyFraming::None | BodyFraming::Tunnel),
            respond: Some(respond),
            send: None,
            head: Vec::new(),
            head_request,
            out: Framing::UntilEnd,
            sent: 0,
            cut: false,
        }
    }

    /// Ends the stream after the exchange: END_STREAM if the response was
    /// whole, RST_STREAM if it was cut short (or never started). A body
    /// that runs until its end (an upstream's chunked or close-delimited
    /// one) is whole unless the exchange said it was cut.
    pub fn finish(&mut self) {
        match (&self.out, self.send.as_mut()) {
            (Framing::Done, _) => {}
            (Framing::Tunnel, Some(send)) => send.send_reset(Reason::CANCEL),
            (Framing::UntilEnd, Some(send)) if !self.cut => {
                let _ = send.send_data(Bytes::new(), true);
            }
            (_, Some(send)) => send.send_reset(Reason::INTERNAL_ERROR),
            (_, None) => {
                if let Some(respond) = self.respond.as_mut() {
                    respond.send_reset(Reason::INTERNAL_ERROR);
                }
            }
        }
    }

    /// Whether the client reset the stream (or `h2` did, for the client's
    /// errors) before tern ended it: what the connection's budget of
    /// resets counts (`tasks`). Asked as the task ends, before `finish`.
    pub(super) fn reset_by_client(&mut self) -> bool {
        matches!(self.ended_early(), Some(Ok(_)))
    }

    /// The stream's end from the client's side, looked at without waiting:
    /// `Ok` with the code of its reset, `Err` once the connection ended;
    /// `None` while the stream is open.
    fn ended_early(&mut self) -> Option<Result<Reason, h2::Error>> {
        // Registers no waker that matters: each wait on the stream
        // registers its own when it polls.
        let mut cx = Context::from_waker(Waker::noop());
        let polled = match (self.send.as_mut(), self.respond.as_mut()) {
            (Some(send), _) => send.poll_reset(&mut cx),
            (None, Some(respond)) => respond.poll_reset(&mut cx),
            (None, None) => return None,
        };
        match polled {
            Poll::Ready(ended) => Some(ended),
            Poll::Pending => None,
        }
    }

    /// Writes the first `n` bytes buffered in `upstream` as DATA: one copy,
    /// into the bytes h2 queues (its frames own their data).
    pub(super) async fn take_from_upstream(
        &mut self,
        upstream: &mut Conn,
        n: usize,
    ) -> io::Result<()> {
        let data = Bytes::copy_from_slice(upstream.buffered().get(..n).ok_or_else(invalid)?);
        upstream.consume(n);
        self.sent += n as u64;
        if self.send.is_none() {
            return self.accept_head_bytes(&data).await;
        }
        self.accept_body(data).await
    }

    /// Ends the response side (END_STREAM).
    pub(super) fn end(&mut self) -> io::Result<()> {
        let send = self.send.as_mut().ok_or_else(invalid)?;
        send.send_data(Bytes::new(), true).map_err(h2_error)
    }

    /// Takes response bytes: an HTTP/1.1 response (tern's own answer, a
    /// static file), or body bytes after a head.
    async fn accept(&mut self, input: &[u8]) -> io::Result<()> {
        self.sent += input.len() as u64;
        self.accept_head_bytes(input).await
    }

    async fn accept_head_bytes(&mut self, mut input: &[u8]) -> io::Result<()> {
        while self.send.is_none() && !input.is_empty() {
            input = self.accept_head(input)?;
        }
        if input.is_empty() {
            return Ok(());
        }
        self.accept_body(Bytes::copy_from_slice(input)).await
    }

    /// Reads a head (buffering a partial one); returns what follows it.
    fn accept_head<'a>(&mut self, input: &'a [u8]) -> io::Result<&'a [u8]> {
        let joined;
        let (whole, held) = if self.head.is_empty() {
            (input, 0)
        } else {
            let held = self.head.len();
            self.head.extend_from_slice(input);
            joined = std::mem::take(&mut self.head);
            (&joined[..], held)
        };
        let Some(head) = response::parse(whole, self.head_request).map_err(|()| invalid())? else {
            self.head = whole.to_vec();
            return Ok(&[]);
        };
        let rest = &input[head.len - held..];
        self.begin(head.response, head.framing)?;
        Ok(rest)
    }

    /// Sends a response head: interim, final (the body follows by
    /// `framing`), or an upstream's 101, which RFC 8441 §5 makes the
    /// stream's 200, the stream carrying the WebSocket from here (and no
    /// other 2xx may: `refuses_status`).
    fn begin(&mut self, mut response: Response<()>, framing: Framing) -> io::Result<()> {
        if self.refuses_status(response.status().as_u16()) {
            return Err(invalid());
        }
        let respond = self.respond.as_mut().ok_or_else(invalid)?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            if self.framing != BodyFraming::Tunnel {
                return Err(invalid());
            }
            *response.status_mut() = StatusCode::OK;
            response.headers_mut().remove("sec-websocket-accept");
            let send = respond.send_response(response, false).map_err(h2_error)?;
            self.send = Some(send);
            self.out = Framing::Tunnel;
            return Ok(());
        }
        if response.status().is_informational() {
            return respond.send_informational(response).map_err(h2_error);
        }
        let done = matches!(framing, Framing::Done);
        let send = respond.send_response(response, done).map_err(h2_error)?;
        self.send = Some(send);
        self.out = framing;
        Ok(())
    }

    /// Sends body bytes as DATA by the head's framing (bytes past a
    /// complete body are dropped).
    async fn accept_body(&mut self, input: Bytes) -> io::Result<()> {
        match &mut self.out {
            Framing::Done => Ok(()),
            Framing::UntilEnd | Framing::Tunnel => self.send_data(input, false).await,
            Framing::Length(remaining) => {
                let take = input
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= take as u64;
                let end = *remaining == 0;
                if end {
                    self.out = Framing::Done;
                }
                self.send_data(input.slice(..take), end).await
            }
            Framing::Chunked(decoder) => {
                // Only tern's own chunked answers: relayed bodies come decoded.
                let mut plain = Vec::new();
                let fed = decoder.feed(&input, &mut plain);
                let done = decoder.is_done();
                fed.map_err(|_| invalid())?;
                if done {
                    self.out = Framing::Done;
                }
                self.send_data(Bytes::from(plain), done).await
            }
        }
    }

    /// Sends `data` as the client's window allows.
    async fn send_data(&mut self, mut data: Bytes, end: bool) -> io::Result<()> {
        let send = self.send.as_mut().ok_or_else(invalid)?;
        if data.is_empty() {
            if end {
                send.send_data(Bytes::new(), true).map_err(h2_error)?;
            }
            return Ok(());
        }
        let mut empty = 0;
        while !data.is_empty() {
            send.reserve_capacity(data.len());
            let granted = match poll_fn(|cx| send.poll_capacity(cx)).await {
                Some(Ok(n)) => n,
                Some(Err(err)) => return Err(h2_error(err)),
                None => return Err(io::ErrorKind::BrokenPipe.into()),
            };
            if granted == 0 {
                empty += 1;
                if empty > EMPTY_GRANTS {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                continue;
            }
            let chunk = data.split_to(granted.min(data.len()));
            let last = end && data.is_empty();
            send.send_data(chunk, last).map_err(h2_error)?;
        }
        Ok(())
    }

    fn release(&mut self) {
        if self.unreleased > 0 {
            let _ = self.recv.flow_control().release_capacity(self.unreleased);
            self.unreleased = 0;
        }
    }
}

impl Downstream for H2Stream {
    fn switched_status(&self) -> u16 {
        200
    }

    fn start_response(&mut self, start: &ResponseStart<'_>, _out: &mut Vec<u8>) -> io::Result<()> {
        let (response, framing) = response::from_start(start).map_err(|()| invalid())?;
        self.begin(response, framing)
    }

    fn frames_body(&self) -> bool {
        false
    }

    fn response_begun(&self) -> bool {
        self.send.is_some()
    }

    fn cut_short(&mut self) {
        self.cut = true;
    }

    fn refuses_status(&self, status: u16) -> bool {
        self.framing == BodyFraming::Tunnel && (200..300).contains(&status)
    }

    fn buffered(&self) -> &[u8] {
        self.body.get(self.start..).unwrap_or_default()
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.body.len() {
            self.body.clear();
            self.start = 0;
        }
    }

    async fn fill(&mut self, limit: usize) -> io::Result<usize> {
        // What was read before has gone upstream: let the client send more.
        self.release();
        if self.body_done {
            return Ok(0);
        }
        if self.body.len() - self.start >= limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "buffer limit reached",
            ));
        }
        if self.start > 0 {
            self.body.drain(..self.start);
            self.start = 0;
        }
        let before = self.body.len();
        loop {
            match self.recv.data().await {
                Some(Ok(data)) if data.is_empty() => continue,
                Some(Ok(data)) => {
                    self.unreleased += data.len();
                    if self.framing == BodyFraming::Chunked {
                        push_chunk(&mut self.body, &data);
                    } else {
                        self.body.extend_from_slice(&data);
                    }
                    break;
                }
                Some(Err(err)) => return Err(h2_error(err)),
                None => {
                    self.body_done = true;
                    if self.framing == BodyFraming::Chunked {
                        self.body
                            .extend_from_slice(crate::http::chunked::LAST_CHUNK);
                    }
                    break;
                }
            }
        }
        Ok(self.body.len() - before)
    }

    fn set_large_reads(&mut self, _large: bool) {}

    fn sent(&self) -> u64 {
        self.sent
    }

    async fn write_owned(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let result = self.accept(&bytes).await;
        (result, bytes)
    }

    async fn send_buffered(&mut self, n: usize, upstream: &mut Conn) -> io::Result<()> {
        let body = std::mem::take(&mut self.body);
        let range = self.start..self.start + n;
        let (result, body) = upstream.write_range(body, range).await;
        self.body = body;
        result?;
        self.consume(n);
        Ok(())
    }

    async fn take_from(&mut self, upstream: &mut Conn, n: usize) -> io::Result<()> {
        self.take_from_upstream(upstream, n).await
    }

    fn body_end_unseen(&mut self) -> bool {
        !self.body_done && !self.recv.is_end_stream()
    }

    async fn await_body_end(&mut self) -> io::Result<()> {
        loop {
            match self.recv.data().await {
                Some(Ok(data)) if data.is_empty() => continue,
                Some(Ok(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "DATA past the content-length",
                    ))
                }
                Some(Err(err)) => return Err(h2_error(err)),
                None => {
                    self.body_done = true;
                    return Ok(());
                }
            }
        }
    }

    fn left(&mut self, mode: AbortOn) -> bool {
        mode != AbortOn::Never && self.ended_early().is_some()
    }

    async fn gone(&mut self, mode: AbortOn, _version: Version, _limit: usize) {
        if mode != AbortOn::Never {
            if let Some(respond) = self.respond.as_mut() {
                let _ = poll_fn(|cx| respond.poll_reset(cx)).await;
                return;
            }
        }
        std::future::pending().await
    }

    async fn tunnel(&mut self, upstream: &mut Conn, idle: Duration) {
        Box::pin(super::tunnel::run(self, upstream, idle)).await
    }

    fn plain_socket(&mut self) -> Option<&mut Conn> {
        None
    }

    async fn linger_close(&mut self) {}
}

fn invalid() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "invalid response for HTTP/2")
}

fn h2_error(err: h2::Error) -> io::Error {
    io::Error::other(err)
}
