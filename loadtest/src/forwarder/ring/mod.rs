//! `tern-loadtest forwarder --ring FORM`: the same measuring stick on an
//! io_uring ring instead of epoll, in three forms, to measure what the
//! ring's cheaper operations give a relay before tern would need them
//! (issue 13; monoio 0.2.4, tern's runtime, submits only the first form):
//!
//! - `plain`: one-shot ACCEPT, RECV and SEND on ordinary descriptors, one
//!   RECV posted per side and re-posted once its bytes are sent on — the
//!   operations tern submits through monoio.
//! - `fixed`: the same on registered files (the ring's file table), which
//!   saves the kernel looking the descriptor up on every operation.
//! - `multishot`: registered files, one multishot ACCEPT for the listener
//!   and one multishot RECV per side, its bytes in buffers the kernel picks
//!   from a provided buffer ring only when they arrive: no RECV re-posted
//!   per request, and a waiting connection holds no buffer.
//!
//! The ring is set up as tern's (COOP_TASKRUN and SINGLE_ISSUER). Like the
//! epoll loop it parses nothing and has no timeouts; a pair's sockets are
//! shut down both ways when a side ends or fails, and dropped once the
//! kernel has completed everything it held for them.

mod buf_ring;
mod pair;

use buf_ring::BufRing;
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use pair::{Chunk, Pair};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::str::FromStr;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Plain,
    Fixed,
    Multishot,
}

impl FromStr for Form {
    type Err = String;
    fn from_str(s: &str) -> Result<Form, String> {
        match s {
            "plain" => Ok(Form::Plain),
            "fixed" => Ok(Form::Fixed),
            "multishot" => Ok(Form::Multishot),
            _ => Err(format!(
                "--ring must be plain, fixed or multishot, not `{s}`"
            )),
        }
    }
}

const ENTRIES: u32 = 1024;
/// Pairs at most in the registered forms: two table slots each.
const MAX_PAIRS: usize = 4096;
/// Each side's own buffer in the one-shot forms, as the epoll loop's.
const OWN_BUFFER: usize = 64 * 1024;
/// The provided buffers (multishot) by default (`--ring-buffers`): 4,096
/// of 4 KiB, shared by all pairs.
pub const PROVIDED: u16 = 4096;
const PROVIDED_SIZE: usize = 4096;
const GROUP: u16 = 0;
const ACCEPT: u64 = u64::MAX;
const RECV: u64 = 0;
const SEND: u64 = 1;

fn op_data(slot: usize, side: usize, kind: u64) -> u64 {
    (slot as u64) << 2 | (side as u64) << 1 | kind
}

pub struct Forwarder {
    // Declared first, so dropped first: the kernel is done with the
    // provided buffers and the pairs' buffers before they are freed.
    ring: IoUring,
    provided: Option<BufRing>,
    listener: TcpListener,
    upstream: SocketAddr,
    form: Form,
    pairs: Vec<Option<Pair>>,
    free: Vec<usize>,
    /// Sides whose multishot RECV ended for want of a provided buffer.
    starved: Vec<(usize, usize)>,
    gave_back: bool,
}

impl Forwarder {
    /// `provided`: how many buffers the multishot form registers.
    pub fn new(
        listener: TcpListener,
        upstream: SocketAddr,
        form: Form,
        provided: u16,
    ) -> io::Result<Forwarder> {
        // A non-blocking listener would make the ring's ACCEPT fail with
        // EAGAIN instead of waiting.
        listener.set_nonblocking(false)?;
        let ring = IoUring::builder()
            .setup_coop_taskrun()
            .setup_single_issuer()
            .build(ENTRIES)?;
        if form != Form::Plain {
            ring.submitter()
                .register_files_sparse(2 * MAX_PAIRS as u32)?;
        }
        let provided = match form {
            Form::Multishot => Some(BufRing::register(&ring, provided, PROVIDED_SIZE, GROUP)?),
            _ => None,
        };
        Ok(Forwarder {
            ring,
            provided,
            listener,
            upstream,
            form,
            pairs: Vec::new(),
            free: Vec::new(),
            starved: Vec::new(),
            gave_back: false,
        })
    }

    /// The loop: runs until killed.
    pub fn run(&mut self) -> io::Result<()> {
        self.arm_accept()?;
        let mut done = Vec::with_capacity(ENTRIES as usize);
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(e),
            }
            done.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for (data, result, flags) in done.drain(..) {
                self.on_completion(data, result, flags)?;
            }
            if self.gave_back {
                self.feed_starved()?;
            }
        }
    }

    fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        // SAFETY: every entry points into a pair (its sockets and buffers) or
        // the provided buffers; a pair is dropped only once all its entries
        // have completed (`Pair::in_flight`), the provided buffers only
        // after the ring (`Forwarder`'s field order).
        unsafe {
            if self.ring.submission().push(&entry).is_err() {
                self.ring.submit()?;
                self.ring
                    .submission()
                    .push(&entry)
                    .map_err(|_| io::Error::other("submission queue full"))?;
            }
        }
        Ok(())
    }

    fn arm_accept(&mut self) -> io::Result<()> {
        let fd = types::Fd(self.listener.as_raw_fd());
        let entry = match self.form {
            Form::Multishot => opcode::AcceptMulti::new(fd).build(),
            _ => opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut()).build(),
        };
        self.push(entry.user_data(ACCEPT))
    }

    fn on_completion(&mut self, data: u64, result: i32, flags: u32) -> io::Result<()> {
        if data == ACCEPT {
            return self.on_accept(result, flags);
        }
        let (slot, side) = ((data >> 2) as usize, (data >> 1 & 1) as usize);
        let multishot = self.form == Form::Multishot && data & 1 == RECV;
        let Some(pair) = self.pairs.get_mut(slot).and_then(Option::as_mut) else {
            return Err(io::Error::other("a completion for no pair"));
        };
        if !(multishot && cqueue::more(flags)) {
            pair.in_flight -= 1;
        }
        if data & 1 == RECV {
            self.on_recv(slot, side, result, flags)?;
        } else {
            self.on_send(slot, side, result)?;
        }
        self.drop_if_done(slot)
    }

    fn on_accept(&mut self, result: i32, flags: u32) -> io::Result<()> {
        if result >= 0 {
            // SAFETY: a successful ACCEPT's result is a new descriptor that
            // nothing else owns.
            let client = unsafe { TcpStream::from_raw_fd(result) };
            if let Err(e) = self.open_pair(client) {
                eprintln!("forwarder: {}: {e}", self.upstream);
            }
        } else {
            eprintln!(
                "forwarder: accept: {}",
                io::Error::from_raw_os_error(-result)
            );
        }
        if self.form != Form::Multishot || !cqueue::more(flags) {
            self.arm_accept()?;
        }
        Ok(())
    }

    /// A blocking connect, as the epoll loop's: once per client connection,
    /// outside what is measured.
    fn open_pair(&mut self, client: TcpStream) -> io::Result<()> {
        let origin = TcpStream::connect(self.upstream)?;
        client.set_nodelay(true)?;
        origin.set_nodelay(true)?;
        let slot = self.free.pop().unwrap_or(self.pairs.len());
        if let Err(e) = self.register_files(slot, [&client, &origin]) {
            if slot < self.pairs.len() {
                self.free.push(slot);
            }
            return Err(e);
        }
        let own = if self.form == Form::Multishot {
            0
        } else {
            OWN_BUFFER
        };
        let pair = Pair::new(client, origin, own);
        if slot == self.pairs.len() {
            self.pairs.push(Some(pair));
        } else {
            self.pairs[slot] = Some(pair);
        }
        self.post_recv(slot, 0)?;
        self.post_recv(slot, 1)
    }

    /// The registered forms: both sockets into the file table at the
    /// slot's two places.
    fn register_files(&self, slot: usize, socks: [&TcpStream; 2]) -> io::Result<()> {
        if self.form == Form::Plain {
            return Ok(());
        }
        if slot >= MAX_PAIRS {
            return Err(io::Error::other("too many connections for the file table"));
        }
        let fds = socks.map(AsRawFd::as_raw_fd);
        self.ring
            .submitter()
            .register_files_update(2 * slot as u32, &fds)
            .map(drop)
    }

    fn pair(&mut self, slot: usize) -> &mut Pair {
        pair_in(&mut self.pairs, slot)
    }

    /// The descriptor of `side` in the form's terms.
    fn target(&mut self, slot: usize, side: usize) -> Target {
        match self.form {
            Form::Plain => Target::Fd(self.pair(slot).socks[side].as_raw_fd()),
            _ => Target::Fixed((2 * slot + side) as u32),
        }
    }

    fn post_recv(&mut self, slot: usize, side: usize) -> io::Result<()> {
        let target = self.target(slot, side);
        let pair = self.pair(slot);
        pair.in_flight += 1;
        let (buf, len) = (pair.own[side].as_mut_ptr(), pair.own[side].len() as u32);
        let entry = match (self.form, target) {
            (Form::Multishot, Target::Fixed(i)) => {
                opcode::RecvMulti::new(types::Fixed(i), GROUP).build()
            }
            (_, Target::Fixed(i)) => opcode::Recv::new(types::Fixed(i), buf, len).build(),
            (_, Target::Fd(fd)) => opcode::Recv::new(types::Fd(fd), buf, len).build(),
        };
        self.push(entry.user_data(op_data(slot, side, RECV)))
    }

    /// Sends the first chunk read from `side` on to the other side.
    fn post_send(&mut self, slot: usize, side: usize) -> io::Result<()> {
        let target = self.target(slot, 1 - side);
        // The fields apart, not `self.pair`: the chunk may be in a provided buffer.
        let pair = pair_in(&mut self.pairs, slot);
        let Some(chunk) = pair.queue[side].front() else {
            return Ok(());
        };
        let base = match (chunk.id, &self.provided) {
            (Some(id), Some(provided)) => provided.start_of(id),
            _ => pair.own[side].as_ptr(),
        };
        // SAFETY: `start < end ≤` the buffer's length.
        let (buf, len) = (
            unsafe { base.add(chunk.start) },
            (chunk.end - chunk.start) as u32,
        );
        pair.sending[side] = true;
        pair.in_flight += 1;
        let entry = match target {
            Target::Fixed(i) => opcode::Send::new(types::Fixed(i), buf, len),
            Target::Fd(fd) => opcode::Send::new(types::Fd(fd), buf, len),
        };
        let entry = entry.flags(libc::MSG_NOSIGNAL).build();
        self.push(entry.user_data(op_data(slot, side, SEND)))
    }

    fn on_recv(&mut self, slot: usize, side: usize, result: i32, flags: u32) -> io::Result<()> {
        let id = cqueue::buffer_select(flags);
        let multishot = self.form == Form::Multishot;
        if result <= 0 || self.pair(slot).closing {
            if let Some(id) = id {
                self.give_back(id);
            }
            let pair = self.pair(slot);
            match result {
                _ if pair.closing => {}
                0 => pair.end_of(side),
                r if r == -libc::ENOBUFS => self.starved.push((slot, side)),
                _ => pair.shut_down(),
            }
            return Ok(());
        }
        let pair = self.pair(slot);
        let chunk = Chunk {
            id,
            start: 0,
            end: result as usize,
        };
        pair.queue[side].push_back(chunk);
        if !pair.sending[side] {
            self.post_send(slot, side)?;
        }
        if multishot && !cqueue::more(flags) {
            self.post_recv(slot, side)?;
        }
        Ok(())
    }

    fn on_send(&mut self, slot: usize, side: usize, result: i32) -> io::Result<()> {
        let pair = self.pair(slot);
        pair.sending[side] = false;
        if result < 0 || pair.closing {
            if !pair.closing {
                pair.shut_down();
            }
            return Ok(());
        }
        let Some(chunk) = pair.queue[side].front_mut() else {
            return Ok(());
        };
        chunk.start += result as usize;
        if chunk.start < chunk.end {
            return self.post_send(slot, side);
        }
        let id = pair.queue[side].pop_front().and_then(|c| c.id);
        pair.sent_on(side);
        if pair.closing {
            if let Some(id) = id {
                self.give_back(id);
            }
            return Ok(());
        }
        match id {
            Some(id) => self.give_back(id),
            None => return self.post_recv(slot, side),
        }
        if !self.pair(slot).queue[side].is_empty() {
            self.post_send(slot, side)?;
        }
        Ok(())
    }

    fn give_back(&mut self, id: u16) {
        if let Some(provided) = self.provided.as_mut() {
            provided.give_back(id);
            self.gave_back = true;
        }
    }

    /// Re-arms the RECVs that ran out of provided buffers, now that some
    /// came back (those that find none again end again).
    fn feed_starved(&mut self) -> io::Result<()> {
        self.gave_back = false;
        for (slot, side) in std::mem::take(&mut self.starved) {
            if self
                .pairs
                .get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|p| !p.closing)
            {
                self.post_recv(slot, side)?;
            }
        }
        Ok(())
    }

    /// Frees a shut-down pair once the kernel holds nothing of it.
    fn drop_if_done(&mut self, slot: usize) -> io::Result<()> {
        if !self.pair(slot).is_done() {
            return Ok(());
        }
        let Some(pair) = self.pairs[slot].take() else {
            return Ok(());
        };
        for chunk in pair.queue.iter().flatten() {
            if let Some(id) = chunk.id {
                self.give_back(id);
            }
        }
        if self.form != Form::Plain {
            self.ring
                .submitter()
                .register_files_update(2 * slot as u32, &[-1, -1])?;
        }
        self.free.push(slot);
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Target {
    Fd(RawFd),
    Fixed(u32),
}

/// The pair in `slot`, which holds one while its operations run.
fn pair_in(pairs: &mut [Option<Pair>], slot: usize) -> &mut Pair {
    match pairs.get_mut(slot).and_then(Option::as_mut) {
        Some(pair) => pair,
        None => unreachable!("slot {slot} holds a pair while its operations run"),
    }
}
