//! A server's `max_connections`, held for the whole process: one counter of
//! requests in flight per limited server, shared by every worker, and one
//! queue per backend of the requests waiting for a slot, in arrival order
//! whichever worker they are on.
//!
//! Taking a slot is one compare-and-swap on the server's counter. A slot
//! that frees while requests wait is not freed but handed to the first
//! waiter that can use it (a sticky request only takes its own server):
//! so newcomers can't overtake the queue, and the waiter, woken on its own
//! worker (directly, or through that worker's doorbell), finds its slot
//! already held. Only the waiter can tell whether it may use that server
//! now (passive marks are per worker, `tried` per request): one that may
//! not hands the slot on with `release` and queues again refusing that
//! server, so the slot is not lost and is not offered again to a waiter
//! that refused it (no ping-pong between two waiters that can't use it).
//! It queues again in its place by arrival, not behind those who came
//! after it.
//!
//! Waiting costs an allocation and a mutex; a request that
//! didn't wait costs the compare-and-swap and, when it ends, the mutex
//! (uncontended unless requests end at the same moment on several cores).
//!
//! Servers without `max_connections` cost nothing of this: every check
//! starts with `max == 0` in a read-only array (see the README for the
//! measurement).
//!
//! A reload starts new counters with its new plan: requests in flight on
//! the old plan count against the old ones until they end.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::backend::Backend;
use super::pick::Tried;
use crate::doorbell::{self, Bell};

/// `Ticket::granted` before a slot was handed to the ticket.
const NOT_GRANTED: u32 = u32::MAX;

pub struct ServerSlots {
    /// Per server id: its `max_connections`, 0 for none.
    max: Box<[u32]>,
    /// Per server id: requests in flight (limited servers only).
    used: Box<[AtomicU32]>,
    /// Per server id: its backend and its position there.
    place: Box<[(u32, u16)]>,
    /// Per backend: requests waiting for a slot, first come first.
    queues: Box<[Mutex<VecDeque<Arc<Ticket>>>]>,
    /// Numbers the requests that queue, in order of arrival.
    arrivals: AtomicU64,
}

/// One waiting request.
struct Ticket {
    worker: usize,
    /// A sticky request waits for its own server only.
    only: Option<u16>,
    /// Positions it must not be handed: tried, or handed and refused.
    refuses: Tried,
    /// The position of the server whose slot it was handed.
    granted: AtomicU32,
    /// When it first queued (`ServerSlots::arrivals`): its place in line.
    arrived: u64,
}

impl Ticket {
    fn granted(&self) -> Option<usize> {
        let pos = self.granted.load(Ordering::Acquire);
        (pos != NOT_GRANTED).then_some(pos as usize)
    }
}

impl std::fmt::Debug for ServerSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSlots")
            .field("max", &self.max)
            .finish()
    }
}

impl ServerSlots {
    pub fn new(backends: &[Backend], server_count: usize) -> Self {
        let mut max = vec![0; server_count];
        let mut place = vec![(0, 0); server_count];
        for (b, backend) in backends.iter().enumerate() {
            for (pos, server) in backend.servers.iter().enumerate() {
                max[server.id] = server.max_connections.unwrap_or(0);
                place[server.id] = (b as u32, pos as u16);
            }
        }
        ServerSlots {
            max: max.into(),
            used: (0..server_count).map(|_| AtomicU32::new(0)).collect(),
            place: place.into(),
            queues: backends.iter().map(|_| Mutex::default()).collect(),
            arrivals: AtomicU64::new(0),
        }
    }

    fn limit(&self, id: usize) -> u32 {
        self.max.get(id).copied().unwrap_or(0)
    }

    /// The server has a free slot (always, without a limit).
    pub fn has_room(&self, id: usize) -> bool {
        let max = self.limit(id);
        max == 0 || self.used[id].load(Ordering::Relaxed) < max
    }

    /// Takes a slot; false when another request took the last one first.
    pub fn try_take(&self, id: usize) -> bool {
        let max = self.limit(id);
        if max == 0 {
            return true;
        }
        self.used[id]
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Ends a request on `id` (which took or was handed a slot): hands the
    /// slot to the first waiter that can use it, else frees it.
    pub fn release(&self, id: usize) {
        if self.limit(id) == 0 {
            return;
        }
        let (backend, pos) = self.place[id];
        let mut queue = self.queue(backend as usize);
        let next = queue.iter().position(|t| {
            t.only.is_none_or(|only| only == pos) && !t.refuses.has(usize::from(pos))
        });
        match next.and_then(|i| queue.remove(i)) {
            Some(ticket) => {
                ticket.granted.store(u32::from(pos), Ordering::Release);
                drop(queue);
                doorbell::ring(ticket.worker, Bell::Slots);
            }
            None => {
                self.used[id].fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    fn queue(&self, backend: usize) -> MutexGuard<'_, VecDeque<Arc<Ticket>>> {
        // A panic can't leave the queue half changed: take it anyway.
        self.queues[backend]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Requests in flight on a limited server (for tests and metrics).
    pub fn in_use(&self, id: usize) -> u32 {
        self.used.get(id).map_or(0, |n| n.load(Ordering::Relaxed))
    }
}

/// Waits in `backend`'s queue until a slot is handed over (its server's
/// position) or `deadline` passes (`None`: 503); it is never handed a
/// position in `refuses`. `retry` picks a server and
/// takes its slot; it runs once under the queue's lock before queueing, so
/// a slot freed between the caller's pick and the queueing is not missed.
pub async fn wait_for_slot(
    slots: &ServerSlots,
    backend: usize,
    worker: usize,
    only: Option<u16>,
    line: &mut InLine,
    deadline: Instant,
    retry: impl FnOnce() -> Option<usize>,
) -> Option<usize> {
    let arrived =
        *(line.arrived).get_or_insert_with(|| slots.arrivals.fetch_add(1, Ordering::Relaxed));
    let ticket = Arc::new(Ticket {
        worker,
        only,
        refuses: line.refuses,
        granted: AtomicU32::new(NOT_GRANTED),
        arrived,
    });
    {
        let mut queue = slots.queue(backend);
        if let Some(pos) = retry() {
            return Some(pos);
        }
        line_up(&mut queue, ticket.clone());
    }
    let mut place = InQueue {
        slots,
        backend,
        ticket,
    };
    loop {
        if let Some(pos) = place.ticket.granted() {
            place.forget();
            return Some(pos);
        }
        let bell = doorbell::local(Bell::Slots);
        if crate::timer::timeout_at(deadline, bell.wait())
            .await
            .is_err()
        {
            // A slot handed over just as the wait ran out is still used.
            return place.leave();
        }
    }
}

/// A request's standing in its backend's queue, across the times it
/// queues: the servers it refuses, and its place in line (taken when it
/// first queues, kept when it queues again after refusing a slot).
pub struct InLine {
    pub refuses: Tried,
    arrived: Option<u64>,
}

impl InLine {
    pub fn new(refuses: Tried) -> Self {
        InLine {
            refuses,
            arrived: None,
        }
    }
}

/// Puts `ticket` in `queue` by arrival: behind those who came before it,
/// ahead of those who came after (a waiter that refused a slot keeps its
/// place).
fn line_up(queue: &mut VecDeque<Arc<Ticket>>, ticket: Arc<Ticket>) {
    let place = (queue.iter())
        .position(|t| t.arrived > ticket.arrived)
        .unwrap_or(queue.len());
    queue.insert(place, ticket);
}

/// A ticket in a queue: leaves it when the waiting request goes away (its
/// client closed, its deadline passed), passing on a slot it was handed.
struct InQueue<'a> {
    slots: &'a ServerSlots,
    backend: usize,
    ticket: Arc<Ticket>,
}

impl InQueue<'_> {
    /// Leaves the queue; returns a slot handed over meanwhile.
    fn leave(&mut self) -> Option<usize> {
        self.slots
            .queue(self.backend)
            .retain(|t| !Arc::ptr_eq(t, &self.ticket));
        let granted = self.ticket.granted();
        self.ticket.granted.store(NOT_GRANTED, Ordering::Release);
        granted
    }

    /// The slot handed over is the request's now.
    fn forget(&mut self) {
        self.ticket.granted.store(NOT_GRANTED, Ordering::Release);
    }
}

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        if let Some(pos) = self.leave() {
            let id = self
                .slots
                .place
                .iter()
                .position(|&(b, p)| b as usize == self.backend && usize::from(p) == pos);
            if let Some(id) = id {
                self.slots.release(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One backend whose servers have these limits (0: none).
    fn slots(max: &[u32]) -> ServerSlots {
        ServerSlots {
            max: max.into(),
            used: max.iter().map(|_| AtomicU32::new(0)).collect(),
            place: (0..max.len()).map(|pos| (0, pos as u16)).collect(),
            queues: vec![Mutex::default()].into(),
            arrivals: AtomicU64::new(0),
        }
    }

    fn ticket(only: Option<u16>) -> Arc<Ticket> {
        refusing(only, &[])
    }

    fn refusing(only: Option<u16>, positions: &[usize]) -> Arc<Ticket> {
        arriving(0, only, positions)
    }

    fn arriving(arrived: u64, only: Option<u16>, positions: &[usize]) -> Arc<Ticket> {
        let mut refuses = Tried::default();
        positions.iter().for_each(|&pos| refuses.add(pos));
        Arc::new(Ticket {
            worker: usize::MAX - 1,
            only,
            refuses,
            granted: AtomicU32::new(NOT_GRANTED),
            arrived,
        })
    }

    /// A waiter that refused a slot queues again where it stood: the next
    /// slot it can use is its, not a later arrival's.
    #[test]
    fn a_waiter_queueing_again_keeps_its_place_in_line() {
        let slots = slots(&[1, 1]);
        assert!(slots.try_take(0) && slots.try_take(1));
        // `later` is sticky to server 0, so server 1's slot skips it.
        let (first, later) = (arriving(1, None, &[]), arriving(2, Some(0), &[]));
        line_up(&mut slots.queue(0), first.clone());
        line_up(&mut slots.queue(0), later.clone());
        slots.release(1);
        assert_eq!(
            first.granted(),
            Some(1),
            "the first in line that can use it"
        );
        // It may not use server 1 (marked down on its worker, say): it hands
        // the slot on (to nobody: freed) and queues again, refusing server 1.
        slots.release(1);
        assert_eq!(slots.in_use(1), 0);
        let again = arriving(1, None, &[1]);
        line_up(&mut slots.queue(0), again.clone());
        slots.release(0);
        assert_eq!(again.granted(), Some(0), "ahead of who came after it");
        assert_eq!(later.granted(), None);
    }

    #[test]
    fn a_freed_slot_goes_to_the_first_waiter_that_can_use_it() {
        let slots = slots(&[1, 1]);
        assert!(slots.try_take(0) && slots.try_take(1));
        assert!(!slots.try_take(0), "full");
        let (sticky, any) = (ticket(Some(1)), ticket(None));
        slots.queue(0).extend([sticky.clone(), any.clone()]);
        slots.release(0);
        assert_eq!(sticky.granted(), None, "server 0 is not the sticky one's");
        assert_eq!(any.granted(), Some(0));
        assert_eq!(slots.in_use(0), 1, "handed over, not freed");
        slots.release(1);
        assert_eq!(sticky.granted(), Some(1));
        slots.release(0);
        slots.release(1);
        assert_eq!((slots.in_use(0), slots.in_use(1)), (0, 0));
    }

    /// A waiter handed a server it may not use gives the slot back with
    /// `release`: it goes to the next waiter that can take it, never back
    /// to one that refused (or tried) that server, and is freed when no
    /// waiter is left for it.
    #[test]
    fn a_refused_slot_goes_on_and_never_back_to_who_refused_it() {
        let slots = slots(&[1, 1]);
        assert!(slots.try_take(0) && slots.try_take(1));
        let (refused, tried, any) = (refusing(None, &[1]), refusing(None, &[1]), ticket(None));
        slots
            .queue(0)
            .extend([refused.clone(), tried.clone(), any.clone()]);
        slots.release(1);
        assert_eq!((refused.granted(), tried.granted()), (None, None));
        assert_eq!(any.granted(), Some(1), "the first waiter that can use it");
        slots.release(1);
        assert_eq!(slots.in_use(1), 0, "no waiter left for server 1: freed");
        slots.release(0);
        assert_eq!(refused.granted(), Some(0), "server 0 is still for it");
        slots.queue(0).clear();
        slots.release(0);
        assert_eq!((slots.in_use(0), slots.in_use(1)), (0, 0));
    }

    /// The slot path per request (`has_room`, `try_take`, `release`) leaks
    /// no slot over many cycles, for a server without a limit and one with
    /// a limit it never reaches; it also prints what a cycle costs. For the
    /// README's figures run it long in a release build:
    /// `TERN_LIMIT_COST_N=20000000 cargo test --release --lib
    /// limit::tests::the_slot_path_is_balanced -- --nocapture`.
    #[test]
    fn the_slot_path_is_balanced() {
        use std::hint::black_box;
        let n: u32 = std::env::var("TERN_LIMIT_COST_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let slots = slots(&[0, u32::MAX]);
        for (id, what) in [(0, "no limit"), (1, "a limit")] {
            let started = Instant::now();
            for _ in 0..n {
                let id = black_box(id);
                if slots.has_room(id) && slots.try_take(id) {
                    slots.release(black_box(id));
                }
            }
            let ns = started.elapsed().as_nanos() as f64 / f64::from(n);
            println!("{what}: {ns:.1} ns per request");
            assert_eq!(slots.in_use(id), 0, "{what}: a slot leaked");
        }
    }
}
