//! A TCP connection with a read buffer that exists only while bytes are
//! buffered: between exchanges the buffer goes back to the worker's pool.

use std::io;

use monoio::buf::{IoBuf, IoBufMut, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

use crate::buffer;

pub struct Conn {
    pub stream: TcpStream,
    /// Capacity 0 when nothing is buffered; `start..len` is unconsumed.
    buf: Vec<u8>,
    start: usize,
    /// Take big buffers: set while a large body streams through.
    large_reads: bool,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
            start: 0,
            large_reads: false,
        }
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

    /// Gives the buffer back to the pool if nothing is left in it.
    pub fn release(&mut self) {
        if self.buffered().is_empty() && self.buf.capacity() > 0 {
            buffer::give(std::mem::take(&mut self.buf));
            self.start = 0;
        }
    }

    /// Waits until the socket has bytes (or EOF) without holding a buffer.
    pub async fn readable(&self) -> io::Result<()> {
        self.stream.readable(false).await
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
        let buf = std::mem::take(&mut self.buf);
        let (len, cap) = (buf.len(), buf.capacity());
        let (result, slice): (io::Result<usize>, SliceMut<Vec<u8>>) =
            self.stream.read(buf.slice_mut(len..cap)).await;
        self.buf = slice.into_inner();
        result
    }

    fn make_room(&mut self, limit: usize) -> io::Result<()> {
        if self.buf.capacity() == 0 {
            self.buf = if self.large_reads {
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
            self.buf
                .reserve((limit - unconsumed).min(self.buf.capacity()));
        }
        Ok(())
    }

    /// Writes the first `n` buffered bytes to `dst` and consumes them.
    pub async fn forward_buffered(&mut self, n: usize, dst: &mut TcpStream) -> io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let range = self.start..self.start + n;
        let (result, slice) = dst.write_all(buf.slice(range)).await;
        self.buf = slice.into_inner();
        result?;
        self.consume(n);
        Ok(())
    }

    /// Writes `bytes` (an owned buffer) to this connection and hands it back.
    pub async fn write_owned(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let (result, bytes) = self.stream.write_all(bytes).await;
        (result.map(|_| ()), bytes)
    }
}
