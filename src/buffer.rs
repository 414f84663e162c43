//! Per-worker pool of I/O buffers.
//!
//! A connection only holds a buffer while bytes are moving: a keep-alive or
//! long-poll connection that is waiting gives its buffer back, which is what
//! keeps memory per held connection small. Each worker thread has its own
//! pool, so taking and returning a buffer needs no lock.

use std::cell::RefCell;

/// Size of a pooled buffer: large enough for most request heads and for
/// efficient body copies.
pub const BUF_SIZE: usize = 16 * 1024;
/// Buffers kept per worker for reuse; beyond that they are freed.
const MAX_POOLED: usize = 128;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with `BUF_SIZE` capacity.
pub fn take() -> Vec<u8> {
    FREE.with(|free| free.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE))
}

/// Returns a buffer to this worker's pool (grown or shrunk ones are freed).
pub fn give(mut buf: Vec<u8>) {
    if buf.capacity() != BUF_SIZE {
        return;
    }
    buf.clear();
    FREE.with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < MAX_POOLED {
            free.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_cleared() {
        let mut buf = take();
        buf.extend_from_slice(b"data");
        let ptr = buf.as_ptr();
        give(buf);
        let again = take();
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty());
    }

    #[test]
    fn grown_buffers_are_not_pooled() {
        let mut buf = take();
        buf.reserve(BUF_SIZE * 2);
        give(buf);
        assert_eq!(take().capacity(), BUF_SIZE);
    }
}
