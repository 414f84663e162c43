//! One client connection and its origin connection on the ring: what each
//! side read and has not yet sent on, and how many of the pair's operations
//! the kernel still holds (the pair, its sockets and buffers are kept until
//! none are left).

use std::collections::VecDeque;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

/// Bytes read from one side, waiting to go to the other: `start..end` of
/// the side's own buffer (`id` None) or of provided buffer `id`.
pub struct Chunk {
    pub id: Option<u16>,
    pub start: usize,
    pub end: usize,
}

pub struct Pair {
    pub socks: [TcpStream; 2],
    /// Each side's own read buffer (empty when the kernel provides them).
    pub own: [Box<[u8]>; 2],
    /// `queue[s]`: read from side `s`, for the other side, oldest first.
    pub queue: [VecDeque<Chunk>; 2],
    /// `sending[s]`: a SEND of `queue[s]`'s first chunk is in flight.
    pub sending: [bool; 2],
    /// Operations submitted for this pair and not yet completed for good.
    pub in_flight: u32,
    /// `ended[s]`: side `s` sent its end; the pair shuts down once what it
    /// sent before has gone on.
    ended: [bool; 2],
    pub closing: bool,
}

impl Pair {
    pub fn new(client: TcpStream, origin: TcpStream, own_buffers: usize) -> Pair {
        let own = || vec![0; own_buffers].into_boxed_slice();
        Pair {
            socks: [client, origin],
            own: [own(), own()],
            queue: [VecDeque::new(), VecDeque::new()],
            sending: [false, false],
            in_flight: 0,
            ended: [false, false],
            closing: false,
        }
    }

    /// Ends both connections both ways: whatever the kernel still holds for
    /// them completes (a read with its end, a write with an error), and the
    /// pair can go once they have.
    pub fn shut_down(&mut self) {
        self.closing = true;
        for s in &self.socks {
            // SAFETY: a plain syscall on a descriptor this pair owns.
            unsafe { libc::shutdown(s.as_raw_fd(), libc::SHUT_RDWR) };
        }
    }

    /// Side `side` has sent its end: shut down now if its bytes have all
    /// gone on, else once they have (`sent_on`). A multishot read can report
    /// the end while the bytes before it still wait to be sent.
    pub fn end_of(&mut self, side: usize) {
        self.ended[side] = true;
        self.sent_on(side);
    }

    /// Called when a chunk read from `side` has gone on.
    pub fn sent_on(&mut self, side: usize) {
        if self.ended[side] && self.queue[side].is_empty() && !self.closing {
            self.shut_down();
        }
    }

    pub fn is_done(&self) -> bool {
        self.closing && self.in_flight == 0
    }
}
