//! `tern-loadtest forwarder`: a measuring stick, not a proxy.
//!
//! bench/floor.sh asks what a small keep-alive request costs at the least
//! on this kernel when something sits between client and origin: the
//! request read once from the client and written once to the origin, the
//! response read once from the origin and written once to the client —
//! two reads, two writes, and a share of an `epoll_wait`. This relay does
//! that and nothing more: one thread, one level-triggered epoll loop, one
//! origin connection per client connection (opened when the client
//! connects, closed with it), bytes passed on as they arrive.
//!
//! It parses nothing, so it only works for clients that send one request
//! at a time per connection (wrk does) and it has no timeouts, no limits,
//! no half-close, no error responses. Never put it in front of anything
//! real: its CPU per request is the floor the proxies are compared with.

mod epoll;
mod pair;
mod ring;

use crate::args::Flags;
use epoll::{Epoll, IN};
use pair::{Outcome, Pair};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

const LISTENER: u64 = u64::MAX;
/// Connections accepted per wake-up of the listener, so a burst of
/// connects cannot starve the relays.
const ACCEPT_BATCH: usize = 64;

pub fn run(args: &[String]) -> Result<(), String> {
    let flags = Flags::parse(args, &[], &["listen", "upstream", "ring", "ring-buffers"])?;
    let listen: SocketAddr = flags.required("listen")?;
    let ring: Option<ring::Form> = flags.str("ring").map(str::parse).transpose()?;
    let provided: u16 = flags.get("ring-buffers", ring::PROVIDED)?;
    if !provided.is_power_of_two() {
        return Err(format!(
            "--ring-buffers must be a power of two up to 32768, not {provided}"
        ));
    }
    let upstream = crate::net::loopback_addr(&flags.required::<String>("upstream")?)?;
    crate::net::raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    let listener =
        crate::net::listener(listen, false).map_err(|e| format!("bind {listen}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    if let Some(form) = ring {
        let mut fwd = ring::Forwarder::new(listener, upstream, form, provided)
            .map_err(|e| format!("io_uring setup: {e}"))?;
        say_listening(local);
        return fwd.run().map_err(|e| format!("io_uring: {e}"));
    }
    let ep = Epoll::new().map_err(|e| format!("epoll_create1: {e}"))?;
    ep.add(listener.as_raw_fd(), IN, LISTENER)
        .map_err(|e| format!("epoll_ctl: {e}"))?;
    say_listening(local);
    serve(&ep, &listener, upstream).map_err(|e| format!("epoll_wait: {e}"))
}

/// What bench/floor.sh waits for: printed once the relay can take connections.
fn say_listening(local: SocketAddr) {
    println!("listening on {local}");
    let _ = io::stdout().flush();
}

/// The loop: runs until killed.
fn serve(ep: &Epoll, listener: &TcpListener, upstream: SocketAddr) -> io::Result<()> {
    let mut pairs: Vec<Option<Pair>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut closed: Vec<usize> = Vec::new();
    let mut events = Vec::with_capacity(256);
    loop {
        // Slots closed in the last batch are reused only now: a later event
        // of that batch must not reach a new pair in the same slot.
        free.append(&mut closed);
        ep.wait(&mut events)?;
        for ev in &events {
            let (token, bits) = (ev.u64, ev.events);
            if token == LISTENER {
                accept_some(ep, listener, upstream, &mut pairs, &mut free);
                continue;
            }
            let (slot, side) = ((token / 2) as usize, (token % 2) as usize);
            // A pair closed earlier in this batch may still have events here.
            let Some(Some(pair)) = pairs.get_mut(slot) else {
                continue;
            };
            if let Outcome::Closed = pair.on_event(side, bits, ep, slot) {
                pairs[slot] = None;
                closed.push(slot);
            }
        }
    }
}

/// Accepts waiting clients, each with its own new origin connection.
fn accept_some(
    ep: &Epoll,
    listener: &TcpListener,
    upstream: SocketAddr,
    pairs: &mut Vec<Option<Pair>>,
    free: &mut Vec<usize>,
) {
    for _ in 0..ACCEPT_BATCH {
        let client = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                eprintln!("forwarder: accept: {e}");
                return;
            }
        };
        let slot = free.pop().unwrap_or(pairs.len());
        match open_pair(client, upstream, ep, slot) {
            Ok(pair) if slot == pairs.len() => pairs.push(Some(pair)),
            Ok(pair) => pairs[slot] = Some(pair),
            Err(e) => {
                eprintln!("forwarder: {upstream}: {e}");
                if slot < pairs.len() {
                    free.push(slot);
                }
            }
        }
    }
}

/// A blocking connect is fine here: on loopback it completes at once, and
/// it happens once per client connection, outside what is measured.
fn open_pair(client: TcpStream, upstream: SocketAddr, ep: &Epoll, slot: usize) -> io::Result<Pair> {
    let origin = TcpStream::connect(upstream)?;
    for s in [&client, &origin] {
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
    }
    Pair::new(client, origin, ep, slot)
}
