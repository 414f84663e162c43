//! One listening socket of a worker and its accept loops, which can be told
//! to stop in two ways: close (SIGTERM, or a listener removed by a reload)
//! or detach (a binary upgrade handed the socket to a new process). Four
//! accepts stay posted; a watcher adds surge accepts while the listen queue
//! is long (a burst of clients connecting at once).

use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::{Rc, Weak};
use std::time::Duration;

use monoio::io::{CancelHandle, Canceller};
use monoio::net::TcpListener;

use super::Worker;
use crate::contain::contained;
use crate::listen::ListenerInfo;
use crate::metrics::listen_queue::accept_queue_len;
use crate::proxy;
use crate::timer::TICK;

/// Pause after a failed accept (e.g. out of descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At the connection cap, how often the loop looks again anyway.
const ROOM_POLL: Duration = Duration::from_millis(100);
/// Accepts kept posted on each listener. With one, a worker takes one
/// connection per pass of its event loop however many wait in the listen
/// queue; with several, one pass takes as many (what multishot accept,
/// which monoio 0.2.4 lacks, would do with one). Measured at 1, 2, 4, 8
/// and 16: 4 and 8 alike, fewer falls behind, 16 doubles p99 at 2 workers
/// (bench/README.md, *Connection per request*).
const ACCEPTS_IN_FLIGHT: usize = 4;
/// A listen queue longer than this at a timer tick brings in surge
/// accepts. Four accepts take four connections per pass of the event loop,
/// and a pass serving thousands of busy connections can last tens of
/// milliseconds: a burst of clients connecting at once (9,000 in the bench's
/// `c9000`) waited seconds in the queue with no more than four. (Kept in
/// `edge_counts`, next to the surge counter, so /metrics' help text says it.)
const SURGE_AT: u64 = crate::edge_counts::ACCEPT_SURGE_AT;
/// Surge accepts one listener may add at most.
const SURGE_ACCEPTS: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Nobody accepts on the socket any more: shut it down, so the kernel
    /// stops queueing connections for it at once.
    Close,
    /// Another process accepts on the same socket: only stop accepting
    /// here; connections queued stay queued for it.
    Detach,
}

/// The worker's handle on one accept loop.
pub struct Listening {
    /// What connections accepted from now on are told about their listener
    /// (a reload may renumber it or give it new certificates).
    info: RefCell<Rc<ListenerInfo>>,
    fd: RawFd,
    /// Cancels the pending accept; taken when stopping.
    canceller: RefCell<Option<Canceller>>,
    stopped: Cell<bool>,
    /// Surge accepts running.
    surging: Cell<usize>,
}

impl Listening {
    pub fn info(&self) -> Rc<ListenerInfo> {
        self.info.borrow().clone()
    }

    pub fn set_info(&self, info: Rc<ListenerInfo>) {
        *self.info.borrow_mut() = info;
    }

    /// (listener index, descriptor), for the accept queue metrics.
    pub fn index_and_fd(&self) -> (usize, RawFd) {
        (self.info.borrow().index, self.fd)
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.get()
    }

    /// What an accept is cancelled with when the loop stops; `None` once
    /// it was stopped (the canceller is taken then).
    fn cancel_handle(&self) -> Option<CancelHandle> {
        self.canceller.borrow().as_ref().map(Canceller::handle)
    }

    /// Makes the accept loop end. The pending accept is cancelled rather
    /// than dropped: a dropped io_uring accept that completes anyway would
    /// leave its connection open with nobody serving it; a cancelled one
    /// that completes is served.
    pub fn stop(&self, how: Stop) {
        if self.stopped.replace(true) {
            return;
        }
        if how == Stop::Close {
            // SAFETY: shutdown on a descriptor the accept loop owns and
            // keeps open until it ends.
            unsafe {
                libc::shutdown(self.fd, libc::SHUT_RD);
            }
        }
        if let Some(canceller) = self.canceller.borrow_mut().take() {
            canceller.cancel();
        }
    }
}

/// Starts accepting on `listener`; returns the handle to stop it with.
pub fn start(listener: TcpListener, info: Rc<ListenerInfo>, worker: Rc<Worker>) -> Rc<Listening> {
    let slot = Rc::new(Listening {
        info: RefCell::new(info),
        fd: listener.as_raw_fd(),
        canceller: RefCell::new(Some(Canceller::new())),
        stopped: Cell::new(false),
        surging: Cell::new(0),
    });
    // The socket closes when the last loop ends.
    let listener = Rc::new(listener);
    for nth in 0..ACCEPTS_IN_FLIGHT {
        let loop_ = accept_loop(listener.clone(), slot.clone(), worker.clone(), nth == 0);
        monoio::spawn(loop_);
    }
    monoio::spawn(watch_queue(Rc::downgrade(&listener), slot.clone(), worker));
    slot
}

/// `first`: the loop that reports pauses at the cap (once per listener,
/// not once per accept in flight).
async fn accept_loop(
    listener: Rc<TcpListener>,
    slot: Rc<Listening>,
    worker: Rc<Worker>,
    first: bool,
) {
    let Some(cancel) = slot.cancel_handle() else {
        return;
    };
    while accept_one(&listener, &slot, &worker, first, &cancel).await {}
}

/// Waits for room under the cap, accepts one connection and starts serving
/// it; false once the loop was stopped.
async fn accept_one(
    listener: &TcpListener,
    slot: &Listening,
    worker: &Worker,
    first: bool,
    cancel: &CancelHandle,
) -> bool {
    if slot.is_stopped() {
        return false;
    }
    wait_for_room(worker, slot, first).await;
    if slot.is_stopped() {
        return false;
    }
    let place = worker.current().connections.post_accept();
    match listener.cancelable_accept(cancel.clone()).await {
        Ok((stream, peer)) => {
            crate::rlimit::descriptors_available();
            place.accepted();
            // TCP_NODELAY is inherited from the listener (listen.rs).
            let serve = proxy::serve(stream, peer, slot.info(), worker.current());
            monoio::spawn(contained(peer, worker.id, serve));
            true
        }
        Err(_) if slot.is_stopped() => false,
        Err(err) => {
            drop(place);
            back_off(worker, &err).await;
            true
        }
    }
}

/// Every tick, how long the listen queue is; past `SURGE_AT`, more accepts
/// until it is short again. Holds the socket only while starting them, so
/// a stopped listener still closes when its accept loops end.
async fn watch_queue(listener: Weak<TcpListener>, slot: Rc<Listening>, worker: Rc<Worker>) {
    while !slot.is_stopped() {
        // On the worker's tick clock: one timer slot, no ring operation.
        let _ = crate::timer::sleep(TICK).await;
        let Some(listener) = listener.upgrade() else {
            return;
        };
        let wanted = surge_accepts(accept_queue_len(slot.fd).unwrap_or(0));
        if slot.surging.get() == 0 && wanted > 0 {
            crate::edge_counts::accept_surged();
        }
        while slot.surging.get() < wanted && !slot.is_stopped() {
            slot.surging.set(slot.surging.get() + 1);
            monoio::spawn(surge(listener.clone(), slot.clone(), worker.clone()));
        }
    }
}

/// Surge accepts wanted for a listen queue of `queued` connections: none
/// up to `SURGE_AT`, then one per four waiting, at most `SURGE_ACCEPTS`.
fn surge_accepts(queued: u64) -> usize {
    if queued <= SURGE_AT {
        return 0;
    }
    usize::try_from(queued / 4).map_or(SURGE_ACCEPTS, |n| n.min(SURGE_ACCEPTS))
}

/// One surge accept: accepts until the queue is down to half of `SURGE_AT`.
async fn surge(listener: Rc<TcpListener>, slot: Rc<Listening>, worker: Rc<Worker>) {
    if let Some(cancel) = slot.cancel_handle() {
        while accept_one(&listener, &slot, &worker, false, &cancel).await
            && accept_queue_len(slot.fd).unwrap_or(0) > SURGE_AT / 2
        {}
    }
    slot.surging.set(slot.surging.get() - 1);
}

/// An accept failed: the connection stays in the listen queue; try again
/// after a pause rather than spin on it.
async fn back_off(worker: &Worker, err: &std::io::Error) {
    if crate::rlimit::is_exhaustion(err) {
        crate::rlimit::exhausted("accept", err);
    } else {
        crate::log::warn(format_args!("worker {}: accept failed: {err}", worker.id));
    }
    monoio::time::sleep(ACCEPT_BACKOFF).await;
}

/// At the worker's share of `[server] max_connections`, stop accepting:
/// new connections wait in the kernel's listen queue (nothing is refused
/// while it has room) until a connection of this worker ends. While some
/// wait there, idle keep-alive connections are closed to make room for
/// them (`make_room`). Also looks every `ROOM_POLL` whether the loop was
/// stopped or a reload moved the cap.
async fn wait_for_room(worker: &Worker, slot: &Listening, report: bool) {
    let (mut paused, mut said) = (false, false);
    loop {
        let ctx = worker.current();
        let (connections, cap) = (ctx.connections.clone(), ctx.plan.worker_connections);
        if slot.is_stopped() || connections.held() < cap {
            return;
        }
        // One loop per listener reports and makes room: every loop of it
        // doing so would close that many connections per client waiting.
        let closed = if report { make_room(&ctx, slot) } else { 0 };
        drop(ctx);
        if report && !paused {
            paused = true;
            crate::edge_counts::accept_paused();
            crate::log::debug(format_args!(
                "worker {}: at max_connections ({cap} on this worker), accepting again when a connection ends",
                worker.id
            ));
        }
        if closed > 0 && !said {
            said = true;
            crate::log::warn(format_args!(
                "worker {}: at max_connections ({cap} on this worker) with clients waiting to be accepted: idle keep-alive connections closed to make room (said once while it lasts)",
                worker.id
            ));
        }
        let _ = crate::timer::timeout(ROOM_POLL, connections.freed()).await;
    }
}

/// Idle keep-alive connections closed at most at once to make room, as
/// nginx closes up to 32 reusable connections when it runs out.
const GIVE_WAY_AT_ONCE: usize = 32;

/// Asks as many idle keep-alive connections to close as clients wait in
/// `slot`'s listen queue (at most `GIVE_WAY_AT_ONCE`): a client that is
/// there now gets a place, one that would come back later reconnects.
/// Returns how many were asked.
fn make_room(ctx: &crate::worker_ctx::WorkerCtx, slot: &Listening) -> usize {
    let queued = accept_queue_len(slot.fd).unwrap_or(0);
    let wanted = usize::try_from(queued).map_or(GIVE_WAY_AT_ONCE, |n| n.min(GIVE_WAY_AT_ONCE));
    if wanted == 0 {
        return 0;
    }
    ctx.drain.give_way(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_queue_brings_no_surge_and_a_long_one_a_bounded_one() {
        assert_eq!(surge_accepts(0), 0);
        assert_eq!(surge_accepts(SURGE_AT), 0);
        assert_eq!(surge_accepts(SURGE_AT + 4), (SURGE_AT as usize + 4) / 4);
        assert_eq!(surge_accepts(u64::MAX), SURGE_ACCEPTS);
    }
}
