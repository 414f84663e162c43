//! The client's side of an exchange, whatever protocol the client speaks.
//!
//! `exchange` and `relay` (choose a server, send, retry, relay the
//! response) are generic over this trait, so they don't know whether the
//! client is an HTTP/1.1 connection (`Conn`, the first driver) or an HTTP/2
//! stream (`proxy::http2::stream`, the second). The contract is HTTP/1.1-shaped
//! bytes with backpressure: the request body is read from `buffered` and
//! `fill` as HTTP/1.1 framing (raw for a length, chunks otherwise), and the
//! response is written as an HTTP/1.1 head and body; each write returns only
//! once the client's side has taken the bytes (a socket write, or HTTP/2
//! flow-control window), so nothing is buffered without bound. A driver for
//! another protocol translates at this edge.
//!
//! Static dispatch: `Conn`'s methods are called as before, with no box and
//! no allocation on the HTTP/1.1 path.

use std::io;
use std::time::Duration;

use super::Conn;
use crate::http::Version;

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
    /// Writes response bytes and hands the buffer back.
    async fn write_owned(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>);
    /// Sends the first `n` buffered request bytes to the upstream and
    /// consumes them.
    async fn send_buffered(&mut self, n: usize, upstream: &mut Conn) -> io::Result<()>;
    /// Writes the first `n` bytes buffered in `upstream` to the client and
    /// consumes them there.
    async fn take_from(&mut self, upstream: &mut Conn, n: usize) -> io::Result<()>;
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
    /// The plain socket under this client, for sendfile (none on TLS or
    /// HTTP/2, whose bytes must pass through tern).
    fn plain_socket(&mut self) -> Option<&mut Conn>;
    /// Before a close that follows an answer: let the client stop sending
    /// without a reset destroying the answer.
    async fn linger_close(&mut self);
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
