//! An input buffer over monoio's owned-buffer reads.
//!
//! io_uring reads take the buffer by value, so the buffer is moved out for
//! the read and put back after. Consumed bytes are tracked with an offset and
//! only compacted right before the next read: a pipelined burst of requests
//! is parsed without shifting memory after each one.

use monoio::buf::{IoBufMut, SliceMut};
use monoio::io::{AsyncReadRent, CancelHandle, CancelableAsyncReadRent};
use std::io;

pub struct ReadBuf {
    data: Vec<u8>,
    pos: usize,
}

impl ReadBuf {
    pub fn with_capacity(cap: usize) -> ReadBuf {
        ReadBuf {
            data: Vec::with_capacity(cap),
            pos: 0,
        }
    }

    /// Unconsumed bytes.
    pub fn data(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data[self.pos..]
    }

    pub fn consume(&mut self, n: usize) {
        self.pos += n.min(self.data.len() - self.pos);
        if self.pos == self.data.len() {
            self.data.clear();
            self.pos = 0;
        }
    }

    /// Moves unread bytes to the front and makes room for at least `want`
    /// more, returning the buffer viewed from its end.
    fn prepare(&mut self, want: usize) -> SliceMut<Vec<u8>> {
        if self.pos > 0 {
            self.data.drain(..self.pos);
            self.pos = 0;
        }
        let spare = self.data.capacity() - self.data.len();
        if spare < want {
            self.data.reserve(want.max(self.data.capacity()));
        }
        let len = self.data.len();
        std::mem::take(&mut self.data).slice_mut(len..)
    }

    /// Reads once; returns the bytes added, 0 at end of stream.
    pub async fn fill<R: AsyncReadRent>(&mut self, r: &mut R) -> io::Result<usize> {
        let (res, slice) = r.read(self.prepare(1024)).await;
        self.data = slice.into_inner();
        res
    }

    /// Like `fill`, but can be cancelled without losing bytes that already
    /// arrived (monoio hands the buffer back either way).
    pub async fn fill_cancelable<R: CancelableAsyncReadRent>(
        &mut self,
        r: &mut R,
        c: CancelHandle,
    ) -> io::Result<usize> {
        let (res, slice) = r.cancelable_read(self.prepare(1024), c).await;
        self.data = slice.into_inner();
        res
    }

    /// Drops excess capacity after a large message so that thousands of idle
    /// connections don't each keep their high-water mark.
    pub fn shrink_to(&mut self, cap: usize) {
        if self.data.capacity() > cap && self.data.len() - self.pos <= cap {
            self.data.drain(..self.pos);
            self.pos = 0;
            self.data.shrink_to(cap);
        }
    }
}
