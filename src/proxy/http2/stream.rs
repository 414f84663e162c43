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
use std::time::Duration;

use ::http::StatusCode;
use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};

use super::request::BodyFraming;
use super::response::{self, Framing};
use crate::conn::downstream::Downstream;
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
        }
    }

    /// Ends the stream after the exchange: END_STREAM if the response was
    /// whole, RST_STREAM if it was cut short (or never started).
    pub fn finish(&mut self) {
        match (&self.out, self.send.as_mut()) {
            (Framing::Done, _) => {}
            (Framing::Tunnel, Some(send)) => send.send_reset(Reason::CANCEL),
            (Framing::UntilEnd, Some(send)) => {
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

    /// Writes the first `n` bytes buffered in `upstream` as DATA.
    pub(super) async fn take_from_upstream(
        &mut self,
        upstream: &mut Conn,
        n: usize,
    ) -> io::Result<()> {
        let taken = upstream.buffered().get(..n).ok_or_else(invalid)?;
        // The upstream's buffer can't be lent across the await: a copy.
        let copy = taken.to_vec();
        upstream.consume(n);
        self.accept(&copy).await
    }

    /// Ends the response side (END_STREAM).
    pub(super) fn end(&mut self) -> io::Result<()> {
        let send = self.send.as_mut().ok_or_else(invalid)?;
        send.send_data(Bytes::new(), true).map_err(h2_error)
    }

    /// Takes response bytes: a head (and interim heads), then its body.
    async fn accept(&mut self, mut input: &[u8]) -> io::Result<()> {
        self.sent += input.len() as u64;
        while !input.is_empty() {
            if self.send.is_none() {
                input = self.accept_head(input)?;
                continue;
            }
            input = self.accept_body(input).await?;
        }
        Ok(())
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
        let respond = self.respond.as_mut().ok_or_else(invalid)?;
        if head.response.status() == StatusCode::SWITCHING_PROTOCOLS {
            // RFC 8441 §5: the upstream's 101 is the stream's 200, and
            // the stream carries the WebSocket from here.
            if self.framing != BodyFraming::Tunnel {
                return Err(invalid());
            }
            let mut response = head.response;
            *response.status_mut() = StatusCode::OK;
            response.headers_mut().remove("sec-websocket-accept");
            let send = respond.send_response(response, false).map_err(h2_error)?;
            self.send = Some(send);
            self.out = Framing::Tunnel;
            return Ok(rest);
        }
        if head.response.status().is_informational() {
            respond
                .send_informational(head.response)
                .map_err(h2_error)?;
            return Ok(rest);
        }
        let done = matches!(head.framing, Framing::Done);
        let send = respond
            .send_response(head.response, done)
            .map_err(h2_error)?;
        self.send = Some(send);
        self.out = head.framing;
        Ok(rest)
    }

    /// Sends body bytes as DATA by the head's framing; returns what is left
    /// (bytes past a complete body are dropped).
    async fn accept_body<'a>(&mut self, input: &'a [u8]) -> io::Result<&'a [u8]> {
        match &mut self.out {
            Framing::Done => Ok(&[]),
            Framing::UntilEnd | Framing::Tunnel => {
                self.send_data(input, false).await?;
                Ok(&[])
            }
            Framing::Length(remaining) => {
                let take = input
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= take as u64;
                let end = *remaining == 0;
                if end {
                    self.out = Framing::Done;
                }
                self.send_data(&input[..take], end).await?;
                Ok(&[])
            }
            Framing::Chunked(decoder) => {
                let mut plain = crate::buffer::take();
                let fed = decoder.feed(input, &mut plain);
                let done = decoder.is_done();
                let consumed = fed.map_err(|_| invalid())?;
                if done {
                    self.out = Framing::Done;
                }
                let sent = self.send_data(&plain, done).await;
                crate::buffer::give(plain);
                sent?;
                Ok(&input[consumed..])
            }
        }
    }

    /// Sends `data` as the client's window allows.
    async fn send_data(&mut self, mut data: &[u8], end: bool) -> io::Result<()> {
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
            let take = granted.min(data.len());
            let last = end && take == data.len();
            let chunk = Bytes::copy_from_slice(&data[..take]);
            send.send_data(chunk, last).map_err(h2_error)?;
            data = &data[take..];
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
                        self.body.extend_from_slice(b"0\r\n\r\n");
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
