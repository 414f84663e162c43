//! One client connection and its own origin connection, and the bytes in
//! flight between them. Each direction has a buffer that is empty except
//! when the receiving side would not take everything at once; while it
//! holds bytes, the sending side is not read (back-pressure) and the
//! receiving side is watched for room.

use super::epoll::{Epoll, FAILED, IN, OUT};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;

const BUF: usize = 64 * 1024;

/// `CLIENT` and `UPSTREAM` index `Pair::socks`; an event's token is
/// `slot * 2 + side`.
pub const CLIENT: usize = 0;
pub const UPSTREAM: usize = 1;

/// Bytes read from one side and not yet written to the other: `buf[start..end]`.
struct Pipe {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            buf: vec![0; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Writes what is pending to `to`; stops at the first short write.
    fn flush(&mut self, mut to: &TcpStream) -> io::Result<()> {
        while !self.is_empty() {
            match to.write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.start += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        self.start = 0;
        self.end = 0;
        Ok(())
    }
}

pub struct Pair {
    socks: [TcpStream; 2],
    /// `pipes[s]` holds bytes read from side `s` for the other side.
    pipes: [Pipe; 2],
    /// What each socket is registered for now, so epoll_ctl runs only on change.
    interest: [u32; 2],
}

/// What became of a pair after an event.
pub enum Outcome {
    Open,
    /// A side closed or failed: drop the pair (closing both sockets
    /// removes them from the epoll set).
    Closed,
}

impl Pair {
    /// Registers both sockets for reading under `slot`'s tokens.
    pub fn new(
        client: TcpStream,
        upstream: TcpStream,
        ep: &Epoll,
        slot: usize,
    ) -> io::Result<Pair> {
        let pair = Pair {
            socks: [client, upstream],
            pipes: [Pipe::new(), Pipe::new()],
            interest: [IN, IN],
        };
        for side in [CLIENT, UPSTREAM] {
            ep.add(pair.socks[side].as_raw_fd(), IN, token(slot, side))?;
        }
        Ok(pair)
    }

    /// Handles epoll's report `events` for `side`: relays what can be
    /// relayed, then re-registers interest where it changed.
    pub fn on_event(&mut self, side: usize, events: u32, ep: &Epoll, slot: usize) -> Outcome {
        match self.relay(side, events) {
            Ok(true) => {}
            Ok(false) | Err(_) => return Outcome::Closed,
        }
        for s in [CLIENT, UPSTREAM] {
            let want = self.wanted(s);
            if want != self.interest[s] {
                if ep
                    .modify(self.socks[s].as_raw_fd(), want, token(slot, s))
                    .is_err()
                {
                    return Outcome::Closed;
                }
                self.interest[s] = want;
            }
        }
        Outcome::Open
    }

    /// Ok(false) when `side` reached end of stream.
    fn relay(&mut self, side: usize, events: u32) -> io::Result<bool> {
        // Reset or shut down both ways: nothing more will pass (a peer's
        // plain close is a readable end of stream, handled below).
        if events & FAILED != 0 {
            return Ok(false);
        }
        let other = 1 - side;
        // Room again on `side`: finish what the other side sent it.
        if events & OUT != 0 && !self.pipes[other].is_empty() {
            self.pipes[other].flush(&self.socks[side])?;
        }
        // Read only once the previous bytes have gone on.
        if events & IN != 0 && self.pipes[side].is_empty() {
            let pipe = &mut self.pipes[side];
            match (&self.socks[side]).read(&mut pipe.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    pipe.end = n;
                    pipe.flush(&self.socks[other])?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Read `s` while its bytes have gone on; watch it for room while bytes for it wait.
    fn wanted(&self, s: usize) -> u32 {
        let read = if self.pipes[s].is_empty() { IN } else { 0 };
        let write = if self.pipes[1 - s].is_empty() { 0 } else { OUT };
        read | write
    }
}

pub fn token(slot: usize, side: usize) -> u64 {
    (slot * 2 + side) as u64
}
