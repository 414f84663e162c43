//! The client's side of an exchange, whatever protocol the client speaks.
//!
//! `exchange` and `relay` (choose a server, send, retry, relay the
//! response) are generic over this trait, so they don't know whether the
//! client is an HTTP/1.1 connection (`Conn`, the first driver) or an HTTP/2
//! stream (`proxy::http2::stream`, the second). The contract, with
//! backpressure:
//! - the request body is read from `buffered` and `fill` in HTTP/1.1
//!   framing (raw for a length, chunks otherwise: what the upstream gets);
//! - a relayed response starts with a `ResponseStart` — the status, how the
//!   body follows, and the fields as `HeadFields`, which each driver turns
//!   into its own head (HTTP/1.1 lines, an HTTP/2 HEADERS frame) — and its
//!   body follows as bytes, HTTP/1.1-framed only where `frames_body` says so;
//! - tern's own answers and static files are written as HTTP/1.1 responses
//!   (`write_owned`), which an HTTP/2 stream reads back into HEADERS and DATA
//!   (they are tern's own, small and few; the relay is the path that counts).
//!
//! Each write returns only once the client's side has taken the bytes (a
//! socket write, or HTTP/2 flow-control window), so nothing is buffered
//! without bound.
//!
//! Static dispatch: `Conn`'s methods are called as before, with no box and
//! no allocation on the HTTP/1.1 path.

use std::io;
use std::time::Duration;

use super::pieces::Pieces;
use super::{Conn, Next};
use crate::http::{BodyKind, Version};

#[allow(async_fn_in_trait)] // static dispatch only: no Send bound is wanted
pub trait Downstream {
    /// Request bytes read but not yet consumed.
    fn buffered(&self) -> &[u8];
    fn consume(&mut self, n: usize);
    /// Reads more request bytes after those buffered (0: no more will come).
    async fn fill(&mut self, limit: usize) -> io::Result<usize>;
    /// Hint: a large body streams through.
    fn set_large_reads(&mut self, large: bool);
    /// Response bytes written so far (the access log's bytes).
    fn sent(&self) -> u64;
    /// Writes response bytes and hands the buffer back: an HTTP/1.1
    /// response (tern's own answers, static files), or body bytes after
    /// `start_response`.
    async fn write_owned(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>);
    /// `write_owned` for the last bytes of the connection.
    async fn write_last(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        self.write_owned(bytes).await
    }
    /// Writes a response gathered whole (`Pieces`), the connection's last
    /// bytes when `next` is `Close`, and hands the pieces back. Joined into
    /// one buffer here; a plain connection writes them as they lie.
    async fn write_pieces(&mut self, pieces: Pieces, next: Next) -> (io::Result<()>, Pieces) {
        let bytes = pieces.join();
        let (written, bytes) = match next {
            Next::Close => self.write_last(bytes).await,
            Next::KeepAlive => self.write_owned(bytes).await,
        };
        (written, Pieces::whole(bytes))
    }
    /// Starts a relayed response (or an interim one): an HTTP/1.1 client
    /// gets the head written into `out`, to go out with the first body bytes;
    /// an HTTP/2 stream sends HEADERS from its fields now, writing nothing.
    fn start_response(&mut self, start: &ResponseStart<'_>, out: &mut Vec<u8>) -> io::Result<()> {
        start.fields.write_http1(out);
        Ok(())
    }
    /// Whether body bytes after `start_response` carry HTTP/1.1 framing
    /// (chunks). An HTTP/2 stream takes them plain: DATA frames delimit them,
    /// and the end of the exchange ends the stream.
    fn frames_body(&self) -> bool {
        true
    }
    /// Sends the first `n` buffered request bytes to the upstream and
    /// consumes them.
    async fn send_buffered(&mut self, n: usize, upstream: &mut Conn) -> io::Result<()>;
    /// Writes the first `n` bytes buffered in `upstream` to the client and
    /// consumes them there.
    async fn take_from(&mut self, upstream: &mut Conn, n: usize) -> io::Result<()>;
    /// Whether the client has gone (by `mode`), looked at without waiting:
    /// a request whose client left before its upstream was chosen is not
    /// sent. An HTTP/2 stream knows (a reset, or its connection ended, is
    /// recorded by `h2`); an HTTP/1.1 connection would need a read, and
    /// says no.
    fn left(&mut self, _mode: AbortOn) -> bool {
        false
    }
    /// Returns when the client has gone (by `mode`); otherwise never.
    async fn gone(&mut self, mode: AbortOn, version: Version, limit: usize);
    /// After a 101: bytes both ways until both sides close or `idle` passes.
    async fn tunnel(&mut self, upstream: &mut Conn, idle: Duration);
    /// The status this client sees for an upstream's 101 (the access log
    /// and metrics record it): 101 over HTTP/1.1, 200 on an HTTP/2 stream
    /// (RFC 8441 §5).
    fn switched_status(&self) -> u16 {
        101
    }
    /// Whether a final response has begun in a way that can't be taken
    /// back: an HTTP/2 stream sends HEADERS at `start_response`, while an
    /// HTTP/1.1 head goes out with the first body bytes (until then an
    /// error answer can still take its place).
    fn response_begun(&self) -> bool {
        false
    }
    /// The response stops short of its end, and what the client has must
    /// not look complete: an HTTP/2 stream is reset, not ended; an HTTP/1.1
    /// connection closes with its framing unfinished, and over TLS without
    /// close_notify (a body delimited by the close would look whole).
    fn cut_short(&mut self) {}
    /// Once a body by length has come whole: whether its end is still to
    /// be seen. HTTP/1.1's length is its end; an HTTP/2 stream ends with
    /// END_STREAM, which may come in a frame of its own (`await_body_end`).
    fn body_end_unseen(&mut self) -> bool {
        false
    }
    /// Waits for the end of a body that came whole by its length; an error
    /// when more comes instead (RFC 9113 §8.1.1: a malformed request).
    async fn await_body_end(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Whether a final `status` can't be relayed as it is. A WebSocket
    /// over HTTP/2 (RFC 8441 §5) takes any 2xx as its tunnel open, so only
    /// the upstream's 101 may give it one.
    fn refuses_status(&self, _status: u16) -> bool {
        false
    }
    /// The plain socket under this client, for sendfile (none on TLS or
    /// HTTP/2, whose bytes must pass through tern).
    fn plain_socket(&mut self) -> Option<&mut Conn>;
    /// Before a close that follows an answer: let the client stop sending
    /// without a reset destroying the answer.
    async fn linger_close(&mut self);
}

/// A relayed response's head as the exchange hands it to the client's side.
pub struct ResponseStart<'a> {
    pub status: u16,
    /// How the body follows, as the client gets it (`None`: no body, as
    /// for HEAD, 204 and 304).
    pub body: BodyKind,
    pub fields: &'a dyn HeadFields,
}

/// The fields of a response head, told rather than written, so that each
/// client protocol writes them its own way. Made by the proxy layer, which
/// knows the route's changes; read here and by the drivers.
pub trait HeadFields {
    /// The whole head as HTTP/1.1: status line through the blank line,
    /// framing and connection fields included.
    fn write_http1(&self, out: &mut Vec<u8>);
    /// Each field the client gets, final names and values, in order. Not
    /// the framing or connection fields HTTP/1.1 derives (`Content-Length`
    /// for a body by length is the driver's to add).
    fn each(&self, field: &mut dyn FnMut(&[u8], &[u8]));
}

/// When a client's leaving aborts its request while it waits for the
/// upstream (route `abort_on_close`); see `proxy::client_watch`. Here,
/// below `route` and `files`, because the `Downstream` contract names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AbortOn {
    /// A reset, or a close confirmed by a probe (default).
    #[default]
    Full,
    /// Any FIN too: a half-close after the request counts as leaving
    /// (nginx's behaviour, HAProxy's `option abortonclose`).
    Half,
    /// Never: the request runs to its end (nginx `proxy_ignore_client_abort`).
    Never,
}
