//! A client or upstream connection, plain or TLS, with a read buffer that
//! exists only while bytes are buffered: between exchanges the buffer goes
//! back to the worker's pool.
//!
//! Below `proxy`, `upstream` and `files`, which all move bytes through a
//! `Conn`; it knows buffers, TLS sessions and the wire byte counters
//! (`wire`), nothing of HTTP but the shape of the `Downstream` contract
//! (`downstream`: the client's side of an exchange, which a `Conn` or an
//! HTTP/2 stream can be). `last`: a connection's last write, with its FIN;
//! `pieces`: a response written from the buffers its bytes were read into.

pub mod downstream;
mod last;
#[cfg(test)]
pub(crate) mod pair;
pub mod pieces;
pub mod wire;

use std::io;
use std::os::fd::AsRawFd;

use monoio::buf::{IoBuf, IoBufMut, SliceMut};
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent,
};
use monoio::net::TcpStream;

use crate::buffer;
use crate::peek::{peek, Peeked};
use crate::tls::session::{Plain, TlsSession};

/// What happens to the client connection after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    KeepAlive,
    Close,
}

pub struct Conn {
    pub stream: TcpStream,
    /// Capacity 0 when nothing is buffered; `start..len` is unconsumed
    /// (decrypted, on a TLS connection). Back to the pool when dropped.
    buf: buffer::Held,
    start: usize,
    /// Take big buffers: set while a large body streams through.
    large_reads: bool,
    /// A client's connection (else an upstream's): which bytes it counts.
    client: bool,
    /// Bytes written so far (the access log's bytes per request).
    sent: u64,
    /// Boxed so plain connections stay small.
    tls: Option<Box<TlsSession>>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Self {
        Conn {
            stream,
            buf: buffer::Held::default(),
            start: 0,
            large_reads: false,
            client: false,
            sent: 0,
            tls: None,
        }
    }

    /// A client's connection: its bytes count as the client side's.
    pub fn client(stream: TcpStream) -> Self {
        Conn {
            client: true,
            ..Conn::new(stream)
        }
    }

    /// A client speaking TLS to tern.
    pub fn with_tls(stream: TcpStream, session: TlsSession) -> Self {
        Conn {
            tls: Some(Box::new(session)),
            ..Conn::client(stream)
        }
    }

    /// tern speaking TLS to a backend.
    pub fn upstream_tls(stream: TcpStream, session: TlsSession) -> Self {
        Conn {
            tls: Some(Box::new(session)),
            ..Conn::new(stream)
        }
    }

    /// The socket, the bytes read but not consumed, and the TLS session:
    /// for a protocol that takes the connection over (HTTP/2).
    pub fn into_parts(mut self) -> (TcpStream, Vec<u8>, Option<Box<TlsSession>>) {
        let mut buffered = std::mem::take(&mut *self.buf);
        buffered.drain(..self.start.min(buffered.len()));
        (self.stream, buffered, self.tls)
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    pub fn tls_mut(&mut self) -> Option<&mut TlsSession> {
        self.tls.as_deref_mut()
    }

    /// While set, reads use `BIG_BUF_SIZE` buffers (from the next buffer
    /// taken on): for streaming bodies larger than a normal buffer.
    pub fn set_large_reads(&mut self, large: bool) {
        self.large_reads = large;
    }

    /// Bytes read but not yet consumed.
    pub fn buffered(&self) -> &[u8] {
        // After a cancelled read the buffer is gone; the connection is then
        // abandoned by its owner, but never panic here.
        self.buf.get(self.start..).unwrap_or_default()
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.buf.len() {
            self.release();
        }
    }

    /// Hands over the read buffer with what it holds (`[from..]` not yet
    /// consumed), leaving the connection none: for bytes written on from
    /// where they were read (`pieces`).
    pub fn take_buffer(&mut self) -> (Vec<u8>, usize) {
        let from = std::mem::take(&mut self.start);
        (std::mem::take(&mut *self.buf), from)
    }

    /// Gives the buffer back to the pool if nothing is left in it.
    pub fn release(&mut self) {
        if self.buffered().is_empty() && self.buf.capacity() > 0 {
            buffer::give(std::mem::take(&mut *self.buf));
            self.start = 0;
        }
    }

    /// Waits until a read would find bytes (or EOF) without holding a buffer.
    pub async fn readable(&mut self) -> io::Result<()> {
        if self.tls_pending() {
            return Ok(());
        }
        self.stream.readable(false).await
    }

    /// The TLS session holds bytes a read would return (decrypted, or
    /// ciphertext rustls could not take yet) that the socket no longer has.
    pub fn tls_pending(&mut self) -> bool {
        self.tls.as_mut().is_some_and(|tls| tls.has_plain())
    }

    /// Waits for bytes and reads them; 0 means the peer closed. With
    /// `quick`, and while the worker's budget allows, the read is posted at
    /// once with a buffer; otherwise the wait holds no buffer (readiness
    /// first), which is what keeps idle and held connections cheap.
    pub async fn wait_and_fill(&mut self, quick: bool, limit: usize) -> io::Result<usize> {
        let _armed = match quick.then(buffer::try_arm).flatten() {
            Some(armed) => armed,
            None => {
                self.release();
                self.readable().await?;
                return self.fill(limit).await;
            }
        };
        self.fill(limit).await
    }

    /// Reads more bytes after those buffered. The buffer grows as needed up
    /// to `limit` unconsumed bytes; past that it fails with `InvalidData`.
    /// Returns the number of bytes read; 0 means the peer closed.
    pub async fn fill(&mut self, limit: usize) -> io::Result<usize> {
        self.make_room(limit)?;
        if self.tls.is_some() {
            // Boxed, like the other TLS paths: plain connections' futures
            // (and so every held connection) stay small.
            return Box::pin(self.fill_tls()).await;
        }
        // No local for the buffer: one the read borrowed from would stay in
        // the future beside the read's own (every held connection's cost).
        let (len, cap) = (self.buf.len(), self.buf.capacity());
        let into = std::mem::take(&mut *self.buf).slice_mut(len..cap);
        let (result, slice): (io::Result<usize>, SliceMut<Vec<u8>>) = self.stream.read(into).await;
        *self.buf = slice.into_inner();
        if let Ok(n) = result {
            wire::read(self.client, n);
        }
        result
    }

    /// Appends to `out` what the socket already holds, up to `max` bytes,
    /// without waiting: `Ok(None)` when nothing does, or on TLS (whose bytes
    /// must be decrypted first). Only with nothing buffered here, so bytes
    /// keep their order.
    pub fn read_now_into(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<Option<usize>> {
        if self.is_tls() || !self.buffered().is_empty() {
            return Ok(None);
        }
        let read = crate::peek::recv_now(self.stream.as_raw_fd(), out, max)?;
        if let Some(n) = read {
            wire::read(self.client, n);
        }
        Ok(read)
    }

    /// `fill` on a plain connection, as a read that `cancel` can stop
    /// without losing what it read: a read cancelled after it completed
    /// still returns its bytes (a dropped one would lose them).
    pub async fn fill_cancelable(
        &mut self,
        limit: usize,
        cancel: CancelHandle,
    ) -> io::Result<usize> {
        if self.tls.is_some() {
            return self.fill(limit).await;
        }
        self.make_room(limit)?;
        let buf = std::mem::take(&mut *self.buf);
        let (len, cap) = (buf.len(), buf.capacity());
        let (result, slice) = self
            .stream
            .cancelable_read(buf.slice_mut(len..cap), cancel)
            .await;
        *self.buf = slice.into_inner();
        if let Ok(n) = result {
            wire::read(self.client, n);
        }
        result
    }

    /// Whether request bytes wait to be read (buffered, or on the socket).
    pub fn has_input(&self) -> bool {
        !self.buffered().is_empty() || peek(self.stream.as_raw_fd()) == Peeked::Bytes
    }

    /// Decrypts into the buffer, reading ciphertext through a pooled buffer
    /// until some plaintext (or the end) comes out.
    async fn fill_tls(&mut self) -> io::Result<usize> {
        loop {
            let Some(tls) = self.tls.as_deref_mut() else {
                return Ok(0);
            };
            match tls.read_plain(&mut self.buf)? {
                Plain::Bytes(n) => return Ok(n),
                Plain::Closed => return Ok(0),
                Plain::NeedMore => {}
            }
            // Ciphertext rustls could not take last time comes first.
            let fed_kept = tls.feed_kept();
            if fed_kept? {
                self.flush_tls().await?;
                continue;
            }
            let raw = buffer::take();
            let (result, raw) = self.stream.read(raw).await;
            let fed = match result {
                Ok(0) => Ok(0),
                Ok(n) => {
                    wire::read(self.client, n);
                    self.feed_tls(&raw[..n]).map(|()| n)
                }
                Err(err) => Err(err),
            };
            buffer::give(raw);
            if fed? == 0 {
                return Ok(0);
            }
            // Handshake messages or key updates may need answering.
            self.flush_tls().await?;
        }
    }

    fn feed_tls(&mut self, ciphertext: &[u8]) -> io::Result<()> {
        match self.tls.as_deref_mut() {
            Some(tls) => tls.feed(ciphertext),
            None => Ok(()),
        }
    }

    /// Sends whatever records the TLS session has queued.
    pub async fn flush_tls(&mut self) -> io::Result<()> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return Ok(());
        };
        let mut out = buffer::take();
        let queued = tls.records(&mut out);
        if queued.is_ok() && !out.is_empty() {
            let (written, back) = self.stream.write_all(out).await;
            out = back;
            self.note_written(written?);
        }
        buffer::give(out);
        queued
    }

    fn make_room(&mut self, limit: usize) -> io::Result<()> {
        if self.buf.capacity() == 0 {
            *self.buf = if self.large_reads {
                buffer::take_big()
            } else {
                buffer::take()
            };
            self.start = 0;
        }
        let spare = self.buf.capacity() - self.buf.len();
        if self.start > 0 && spare < self.buf.capacity() / 4 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.len() == self.buf.capacity() {
            let unconsumed = self.buf.len() - self.start;
            if unconsumed >= limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "buffer limit reached",
                ));
            }
            let grow = (limit - unconsumed).min(self.buf.capacity());
            self.buf.reserve(grow);
        }
        Ok(())
    }

    fn note_written(&mut self, n: usize) {
        wire::written(self.client, n);
        self.sent += n as u64;
    }

    /// Counts bytes another path wrote to this socket (sendfile).
    pub fn note_sent(&mut self, n: usize) {
        self.note_written(n);
    }

    /// Bytes written on this connection so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Writes the first `n` buffered bytes to `dst` and consumes them.
    pub async fn forward_buffered(&mut self, n: usize, dst: &mut Conn) -> io::Result<()> {
        let range = self.start..self.start + n;
        if dst.is_tls() {
            Box::pin(dst.write_tls(&self.buf[range])).await?;
        } else {
            let buf = std::mem::take(&mut *self.buf);
            let (result, slice) = dst.stream.write_all(buf.slice(range)).await;
            *self.buf = slice.into_inner();
            dst.note_written(result?);
        }
        self.consume(n);
        Ok(())
    }

    /// Writes `buf[range]` to this connection and hands `buf` back.
    pub async fn write_range(
        &mut self,
        buf: Vec<u8>,
        range: std::ops::Range<usize>,
    ) -> (io::Result<()>, Vec<u8>) {
        if self.is_tls() {
            let result = match buf.get(range) {
                Some(part) => Box::pin(self.write_tls(part)).await,
                None => Err(io::ErrorKind::InvalidInput.into()),
            };
            return (result, buf);
        }
        if range.end > buf.len() || range.start > range.end {
            return (Err(io::ErrorKind::InvalidInput.into()), buf);
        }
        let (result, slice) = self.stream.write_all(buf.slice(range)).await;
        if let Ok(n) = result {
            self.note_written(n);
        }
        (result.map(|_| ()), slice.into_inner())
    }

    /// Writes `bytes` (an owned buffer) to this connection and hands it back.
    pub async fn write_owned(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        if self.is_tls() {
            let result = Box::pin(self.write_tls(&bytes)).await;
            return (result, bytes);
        }
        let (result, bytes) = self.stream.write_all(bytes).await;
        if let Ok(n) = result {
            self.note_written(n);
        }
        (result.map(|_| ()), bytes)
    }

    /// Encrypts `plain` into a pooled buffer and sends it.
    async fn write_tls(&mut self, plain: &[u8]) -> io::Result<()> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return Ok(());
        };
        let mut out = buffer::take_big();
        let result = match tls.encrypt(plain, &mut out) {
            Ok(()) => {
                let (written, back) = self.stream.write_all(out).await;
                out = back;
                written.map(|n| self.note_written(n))
            }
            Err(err) => Err(err),
        };
        buffer::give(out);
        result
    }

    /// Says close_notify on a TLS connection (once, however often asked), so
    /// the peer can tell the end of the data from a truncation (RFC 8446
    /// §6.1). A plain connection has nothing to say.
    pub async fn close_notify(&mut self) -> io::Result<()> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return Ok(());
        };
        tls.close();
        self.flush_tls().await
    }

    /// What this connection sends now ends short of its framing: a TLS
    /// connection closes without close_notify, so that a body delimited by
    /// the close (to an HTTP/1.0 client) is seen cut, not whole.
    pub fn cut_short(&mut self) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.forgo_close_notify();
        }
    }

    /// Ends this side's writing: close_notify on TLS, then a TCP half-close.
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.close();
            self.flush_tls().await?;
        }
        self.stream.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crate::conn::pair::with_pair;

    /// A 16 KiB body is a common size (and bench's `16k`): with its head it
    /// must come in one read, not leave its last bytes for a second one.
    #[test]
    fn a_16_kib_body_and_its_head_arrive_in_one_read() {
        with_pair(async |mut conn, mut peer| {
            // A head of 460 bytes, of the size an application server's are.
            let server = "x".repeat(400);
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: 16384\r\nServer: {server}\r\n\r\n");
            let response = [head.as_bytes(), &[7; 16384]].concat();
            peer.write_all(&response).expect("write");
            std::thread::sleep(std::time::Duration::from_millis(50));
            let read = conn.fill(crate::buffer::BUF_SIZE).await.expect("read");
            assert_eq!(read, response.len());
            assert_eq!(conn.buffered(), &response[..]);
        });
    }
}
