//! A response gathered whole without moving its body: tern's head, the
//! body where the upstream connection's read left it, and the body's end
//! read after that — sent together in one `writev`.
//!
//! A body that arrives with its upstream's response head sits in that
//! connection's read buffer, behind the upstream's head. Copying it behind
//! tern's own head, so that both leave in one write, was a quarter of
//! tern's user time on 16 KiB responses (`memmove`; bench/README.md,
//! *Larger responses*). With pieces each byte stays where it was read, and
//! the kernel gathers them (`Conn::write_pieces`).
//!
//! On the wire: `head[..head_len]`, `body[body_from..]`, `head[head_len..]`.

use std::io;
use std::ops::Range;

use monoio::buf::IoVecBuf;
use monoio::io::AsyncWriteRent;

use super::{Conn, Next};
use crate::buffer;

/// 32 bytes: a response held to be written lies in every connection's
/// future (`proxy::exchange`), so what only a body left in place needs is
/// boxed.
pub struct Pieces {
    /// tern's response head; with a body in place, from `InPlace::head_len`
    /// on the body's end, read from the socket after the bytes it holds.
    head: Vec<u8>,
    body: Option<Box<InPlace>>,
}

/// A body left in the upstream's read buffer.
struct InPlace {
    buffer: Vec<u8>,
    /// Where the body starts in `buffer`.
    from: usize,
    /// Where the response head ends in `Pieces::head`.
    head_len: usize,
    /// The three parts for the ring's `writev` (`Vectored`): on the heap,
    /// where they stay while the op moves the pieces about.
    iovecs: [libc::iovec; 3],
}

impl Pieces {
    /// Bytes that are already one buffer.
    pub fn whole(bytes: Vec<u8>) -> Pieces {
        Pieces {
            head: bytes,
            body: None,
        }
    }

    /// `head`, then `buffer[from..]` (a read buffer taken from its
    /// connection), then whatever is appended to `end_mut` later.
    pub fn new(head: Vec<u8>, buffer: Vec<u8>, from: usize) -> Pieces {
        let nothing = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let body = InPlace {
            from: from.min(buffer.len()),
            buffer,
            head_len: head.len(),
            iovecs: [nothing; 3],
        };
        Pieces {
            head,
            body: Some(Box::new(body)),
        }
    }

    /// Room for `more` bytes at the end, in a big buffer if the head's
    /// has too little.
    pub fn make_room(&mut self, more: usize) {
        if self.head.capacity() - self.head.len() < more {
            let mut big = buffer::take_big();
            big.extend_from_slice(&self.head);
            buffer::give(std::mem::replace(&mut self.head, big));
        }
    }

    /// The buffer the body's end is appended to (after the head).
    pub fn end_mut(&mut self) -> &mut Vec<u8> {
        &mut self.head
    }

    /// Bytes of the response in all pieces.
    pub fn len(&self) -> usize {
        self.parts().iter().map(|part| part.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All of it lies in one buffer, in order.
    pub fn is_whole(&self) -> bool {
        self.body.is_none()
    }

    /// The three parts in wire order (some may be empty).
    pub fn parts(&self) -> [&[u8]; 3] {
        match &self.body {
            None => [&self.head, &[], &[]],
            Some(body) => [
                &self.head[..body.head_len],
                &body.buffer[body.from..],
                &self.head[body.head_len..],
            ],
        }
    }

    /// One buffer with all the bytes in order: the head's own when it holds
    /// them all, else a copy (a protocol that must pass the bytes through
    /// tern: TLS, HTTP/2). The other buffers go back to the pool.
    pub fn join(self) -> Vec<u8> {
        if self.is_whole() {
            return self.head;
        }
        let mut joined = if self.len() <= buffer::BUF_SIZE {
            buffer::take()
        } else {
            buffer::take_big()
        };
        for part in self.parts() {
            joined.extend_from_slice(part);
        }
        self.give_back();
        joined
    }

    /// Returns the buffers to the worker's pool.
    pub fn give_back(self) {
        buffer::give(self.head);
        if let Some(body) = self.body {
            buffer::give(body.buffer);
        }
    }

    /// The range of each buffer still to send once `written` bytes have
    /// gone: the head's, the body's, the end's (of `head`).
    fn unsent(&self, written: usize) -> [Range<usize>; 3] {
        let [head, body, end] = self.parts().map(<[u8]>::len);
        let sent = |before: usize, len: usize| written.saturating_sub(before).min(len);
        let (head_len, from) = self
            .body
            .as_ref()
            .map_or((head, 0), |in_place| (in_place.head_len, in_place.from));
        [
            sent(0, head)..head_len,
            from + sent(head, body)..from + body,
            head_len + sent(head + body, end)..self.head.len(),
        ]
    }
}

impl Conn {
    /// Writes `pieces` and hands them back, ending the connection's sending
    /// side after them when `next` is `Close` (`write_last_pieces`). On a
    /// plain connection they go in one `writev` through the ring (the body
    /// is not copied); on TLS, which copies the bytes anyway to encrypt them,
    /// joined into one buffer.
    pub async fn write_pieces(&mut self, pieces: Pieces, next: Next) -> (io::Result<()>, Pieces) {
        match next {
            Next::Close if !self.is_tls() => self.write_last_pieces(pieces).await,
            _ if self.is_tls() || pieces.is_whole() => {
                let (written, bytes) = self.write_owned(pieces.join()).await;
                (written, Pieces::whole(bytes))
            }
            _ => self.write_vectored(pieces).await,
        }
    }

    async fn write_vectored(&mut self, pieces: Pieces) -> (io::Result<()>, Pieces) {
        let total = pieces.len();
        let (written, vectored) = self.stream.writev(Vectored::new(pieces)).await;
        let pieces = vectored.0;
        match written {
            Ok(n) if n >= total => {
                self.note_written(n);
                (Ok(()), pieces)
            }
            Ok(n) => {
                self.note_written(n);
                Box::pin(self.write_unsent(pieces, n)).await
            }
            Err(err) => (Err(err), pieces),
        }
    }

    /// Writes what of `pieces` is left after `written` bytes, buffer by
    /// buffer (a socket that took only part of them at once). Boxed where
    /// it is called: rare, and its futures would lie in every connection's.
    pub(super) async fn write_unsent(
        &mut self,
        mut pieces: Pieces,
        written: usize,
    ) -> (io::Result<()>, Pieces) {
        let [head, body, end] = pieces.unsent(written);
        for (in_body, range) in [(false, head), (true, body), (false, end)] {
            if range.is_empty() {
                continue;
            }
            let buffer = match (in_body, pieces.body.as_deref_mut()) {
                (true, Some(in_place)) => &mut in_place.buffer,
                _ => &mut pieces.head,
            };
            let (result, back) = self.write_range(std::mem::take(buffer), range).await;
            *buffer = back;
            if result.is_err() {
                return (result, pieces);
            }
        }
        (Ok(()), pieces)
    }
}

/// Pieces with a body in place, as the ring's `writev` takes them.
struct Vectored(Pieces);

impl Vectored {
    fn new(mut pieces: Pieces) -> Vectored {
        let parts = pieces.parts().map(|part| libc::iovec {
            iov_base: part.as_ptr().cast_mut().cast(),
            iov_len: part.len(),
        });
        if let Some(body) = pieces.body.as_deref_mut() {
            body.iovecs = parts;
        }
        Vectored(pieces)
    }
}

// SAFETY: the iovecs point into the pieces' buffers, whose heap allocations
// neither move nor change while the runtime owns this value (nothing
// reaches the pieces until the op hands them back), and they lie in the
// boxed `InPlace`, so moving a `Vectored` leaves their address valid. Whole
// pieces (no box) offer no iovecs at all.
unsafe impl IoVecBuf for Vectored {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.0
            .body
            .as_ref()
            .map_or(std::ptr::null(), |body| body.iovecs.as_ptr())
    }

    fn read_iovec_len(&self) -> usize {
        self.0.body.as_ref().map_or(0, |body| body.iovecs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces() -> Pieces {
        let mut pieces = Pieces::new(b"HEAD".to_vec(), b"xxBODY".to_vec(), 2);
        pieces.end_mut().extend_from_slice(b"END");
        pieces
    }

    #[test]
    fn the_parts_are_the_head_the_body_and_its_end_in_that_order() {
        let pieces = pieces();
        assert_eq!(pieces.parts(), [&b"HEAD"[..], b"BODY", b"END"]);
        assert_eq!(pieces.len(), 11);
        assert!(!pieces.is_whole());
        assert_eq!(pieces.join(), b"HEADBODYEND");
    }

    #[test]
    fn whole_bytes_join_without_a_copy() {
        let bytes = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let at = bytes.as_ptr();
        let pieces = Pieces::whole(bytes);
        assert!(pieces.is_whole());
        let joined = pieces.join();
        assert_eq!(joined.as_ptr(), at);
    }

    #[test]
    fn what_is_unsent_starts_where_the_write_stopped_in_each_part() {
        let unsent = |written| pieces().unsent(written);
        assert_eq!(unsent(0), [0..4, 2..6, 4..7]);
        assert_eq!(unsent(3), [3..4, 2..6, 4..7]);
        assert_eq!(unsent(4), [4..4, 2..6, 4..7]);
        assert_eq!(unsent(6), [4..4, 4..6, 4..7]);
        assert_eq!(unsent(8), [4..4, 6..6, 4..7]);
        assert_eq!(unsent(9), [4..4, 6..6, 5..7]);
        assert_eq!(unsent(11), [4..4, 6..6, 7..7]);
    }

    #[test]
    fn a_keep_alive_write_sends_the_pieces_in_order_and_leaves_the_connection_open() {
        crate::conn::pair::with_pair(async |mut conn, mut peer| {
            // More than the socket takes at once: the rest goes piece by piece.
            let (pieces, expected) = crate::conn::pair::pieces(8 << 20, 1 << 20);
            let len = expected.len();
            let reader = std::thread::spawn(move || {
                let mut got = vec![0; len];
                std::io::Read::read_exact(&mut peer, &mut got).map(|()| (got, peer))
            });
            let (written, _) = conn.write_pieces(pieces, Next::KeepAlive).await;
            written.expect("written");
            let (got, mut peer) = reader.join().expect("reader").expect("read all");
            assert!(got == expected, "the bytes arrived in order");
            assert_eq!(conn.sent(), len as u64);
            // No end yet: the connection carries the next response.
            let (written, _) = conn
                .write_pieces(Pieces::whole(b"next".to_vec()), Next::Close)
                .await;
            written.expect("written");
            let mut rest = Vec::new();
            std::io::Read::read_to_end(&mut peer, &mut rest).expect("read to the end");
            assert_eq!(rest, b"next");
        });
    }
}
