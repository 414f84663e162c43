//! The client's connection as the `AsyncRead`/`AsyncWrite` the `h2` crate
//! drives: monoio's poll-io stream (readiness through the io_uring driver),
//! with tern's own rustls session (`tls::session`) when the listener
//! terminates TLS, and the bytes tern had already read (the connection
//! preface, or plaintext decrypted with the handshake) served first.
//!
//! Ciphertext moves through one pooled buffer per direction, taken only
//! while bytes are in flight, so an idle HTTP/2 connection holds none, as
//! an idle HTTP/1.1 connection holds none.

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

use monoio::net::tcp::stream_poll::TcpStreamPoll;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::watch::{Calm, FrameWatch};
use crate::buffer;
use crate::conn::wire;
use crate::tls::session::{Plain, TlsSession};

pub struct H2Io {
    stream: TcpStreamPoll,
    tls: Option<Box<TlsSession>>,
    /// Bytes read before the hand-over, then decrypted bytes not yet taken.
    plain: Vec<u8>,
    start: usize,
    /// Ciphertext waiting to be written (TLS only).
    out: Vec<u8>,
    /// Ciphertext read but not yet taken by rustls: `raw_start..`.
    raw: Vec<u8>,
    raw_start: usize,
    /// Frames of no progress: once `calm` trips, nothing more is read.
    watch: FrameWatch,
    calm: Rc<Calm>,
}

impl H2Io {
    pub fn new(
        stream: TcpStreamPoll,
        mut tls: Option<Box<TlsSession>>,
        early: Vec<u8>,
        calm: Rc<Calm>,
        no_progress_limit: u32,
    ) -> Self {
        // Ciphertext the session kept (read with the handshake) is fed
        // from `raw` like any other.
        let raw = tls
            .as_deref_mut()
            .map(TlsSession::take_kept)
            .unwrap_or_default();
        H2Io {
            stream,
            tls,
            plain: early,
            start: 0,
            out: Vec::new(),
            raw,
            raw_start: 0,
            watch: FrameWatch::new(no_progress_limit),
            calm,
        }
    }

    /// Copies buffered plaintext into `buf`; false when there is none.
    fn serve_plain(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let available = &self.plain[self.start..];
        if available.is_empty() {
            return false;
        }
        let n = available.len().min(buf.remaining());
        buf.put_slice(&available[..n]);
        self.start += n;
        if self.start == self.plain.len() {
            buffer::give(std::mem::take(&mut self.plain));
            self.start = 0;
        }
        true
    }

    /// Reads ciphertext and decrypts it into `plain`, until some plaintext
    /// (or the end) comes out. Ciphertext is fed a record batch at a time,
    /// draining plaintext in between (rustls holds at most 16 KiB of it).
    fn poll_decrypt(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Each round either drains plaintext (and returns), feeds some
        // ciphertext, or reads from the socket (or returns Pending).
        loop {
            if self.plain.capacity() == 0 {
                self.plain = buffer::take();
            }
            let Some(tls) = self.tls.as_deref_mut() else {
                return Poll::Ready(Ok(()));
            };
            match tls.read_plain(&mut self.plain)? {
                Plain::Bytes(_) | Plain::Closed => return Poll::Ready(Ok(())),
                Plain::NeedMore => {}
            }
            if self.raw_start < self.raw.len() {
                let taken = tls.feed_some(&self.raw[self.raw_start..]);
                // Handshake messages, key updates or alerts may need answering.
                let queued = tls.records(&mut self.out);
                let taken = taken?;
                queued?;
                if taken == 0 {
                    return Poll::Ready(Err(io::ErrorKind::InvalidData.into()));
                }
                self.raw_start += taken;
                if self.raw_start == self.raw.len() {
                    buffer::give(std::mem::take(&mut self.raw));
                    self.raw_start = 0;
                }
                if let Poll::Ready(Err(err)) = self.poll_send_out(cx) {
                    return Poll::Ready(Err(err));
                }
                continue;
            }
            let mut raw = std::mem::take(&mut self.raw);
            if raw.capacity() == 0 {
                raw = buffer::take();
            }
            raw.resize(raw.capacity(), 0);
            let mut read = ReadBuf::new(&mut raw);
            let polled = Pin::new(&mut self.stream).poll_read(cx, &mut read);
            let n = read.filled().len();
            match polled {
                Poll::Ready(Ok(())) if n == 0 => {
                    buffer::give(raw);
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(())) => {
                    wire::read(true, n);
                    raw.truncate(n);
                    self.raw = raw;
                    self.raw_start = 0;
                }
                Poll::Ready(Err(err)) => {
                    buffer::give(raw);
                    return Poll::Ready(Err(err));
                }
                Poll::Pending => {
                    buffer::give(raw);
                    self.release_plain();
                    return Poll::Pending;
                }
            }
        }
    }

    fn release_plain(&mut self) {
        if self.start >= self.plain.len() && self.plain.capacity() > 0 {
            buffer::give(std::mem::take(&mut self.plain));
            self.start = 0;
        }
    }

    /// Writes queued ciphertext; ready when none is left.
    fn poll_send_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            wire::written(true, n);
            self.out.drain(..n);
        }
        if self.out.capacity() > 0 {
            buffer::give(std::mem::take(&mut self.out));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for H2Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // `serve` ends the connection (it is woken by the trip).
        if this.calm.tripped() {
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let polled = this.read_into(cx, buf);
        if let Some(keep) = this.watch.see(&buf.filled()[before..], &this.calm) {
            // The rest is withheld: `serve` ends the connection with the
            // watch's code.
            buf.set_filled(before + keep);
            return if keep > 0 { polled } else { Poll::Pending };
        }
        polled
    }
}

impl H2Io {
    fn read_into(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.serve_plain(buf) {
            return Poll::Ready(Ok(()));
        }
        if self.tls.is_none() {
            let before = buf.filled().len();
            let polled = ready!(Pin::new(&mut self.stream).poll_read(cx, buf));
            wire::read(true, buf.filled().len() - before);
            return Poll::Ready(polled);
        }
        ready!(self.poll_decrypt(cx))?;
        self.serve_plain(buf);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.tls.is_none() {
            let n = ready!(Pin::new(&mut this.stream).poll_write(cx, data))?;
            wire::written(true, n);
            return Poll::Ready(Ok(n));
        }
        // Backpressure: nothing more is taken while ciphertext waits.
        if !this.out.is_empty() {
            ready!(this.poll_send_out(cx))?;
        }
        if this.out.capacity() == 0 {
            this.out = buffer::take_big();
        }
        let take = data.len().min(buffer::BIG_BUF_SIZE / 2);
        if let Some(tls) = this.tls.as_deref_mut() {
            tls.encrypt(&data[..take], &mut this.out)?;
        }
        // Start sending now; what can't go yet goes on the next call or flush.
        if let Poll::Ready(Err(err)) = this.poll_send_out(cx) {
            return Poll::Ready(Err(err));
        }
        Poll::Ready(Ok(take))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.tls.is_some() {
            ready!(this.poll_send_out(cx))?;
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(tls) = this.tls.as_deref_mut() {
            tls.close();
            if this.out.capacity() == 0 {
                this.out = buffer::take();
            }
            tls.records(&mut this.out)?;
        }
        if this.tls.is_some() {
            ready!(this.poll_send_out(cx))?;
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}
