//! HTTP/1.1's driver of the exchange: the client's `Conn` as its
//! `Downstream` (the trait is in `conn::downstream`), each method calling
//! `Conn`'s own, so the HTTP/1.1 path is what it was: static dispatch, no box,
//! no allocation.

use std::future::Future;
use std::io;
use std::time::Duration;

use crate::conn::downstream::{AbortOn, Downstream};
use crate::conn::pieces::Pieces;
use crate::conn::{Conn, Next};
use crate::http::Version;

impl Downstream for Conn {
    fn buffered(&self) -> &[u8] {
        Conn::buffered(self)
    }

    fn consume(&mut self, n: usize) {
        Conn::consume(self, n)
    }

    async fn fill(&mut self, limit: usize) -> io::Result<usize> {
        Conn::fill(self, limit).await
    }

    fn set_large_reads(&mut self, large: bool) {
        Conn::set_large_reads(self, large)
    }

    fn sent(&self) -> u64 {
        Conn::sent(self)
    }

    async fn write_owned(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        Conn::write_owned(self, bytes).await
    }

    async fn write_last(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        Conn::write_last(self, bytes).await
    }

    // Not `async fn`: a future of its own would hold the pieces once more in
    // every connection's.
    #[allow(clippy::manual_async_fn)]
    fn write_pieces(
        &mut self,
        pieces: Pieces,
        next: Next,
    ) -> impl Future<Output = (io::Result<()>, Pieces)> {
        Conn::write_pieces(self, pieces, next)
    }

    async fn send_buffered(&mut self, n: usize, upstream: &mut Conn) -> io::Result<()> {
        self.forward_buffered(n, upstream).await
    }

    async fn take_from(&mut self, upstream: &mut Conn, n: usize) -> io::Result<()> {
        upstream.forward_buffered(n, self).await
    }

    async fn gone(&mut self, mode: AbortOn, version: Version, limit: usize) {
        super::client_watch::client_gone(self, mode, version, limit).await
    }

    // Not `async fn`: a WebSocket lives in it, and a future of its own would
    // hold the arguments once more in every tunnel's.
    #[allow(clippy::manual_async_fn)]
    fn tunnel<'s, 'u>(
        &'s mut self,
        upstream: &'u mut Conn,
        idle: Duration,
    ) -> impl Future<Output = ()> + use<'s, 'u> {
        super::tunnel::run(self, upstream, idle)
    }

    fn cut_short(&mut self) {
        Conn::cut_short(self)
    }

    fn plain_socket(&mut self) -> Option<&mut Conn> {
        (!self.is_tls()).then_some(self)
    }

    async fn linger_close(&mut self) {
        super::answer::linger_close(self).await
    }
}
