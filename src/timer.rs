//! Coarse per-worker timeouts for connection I/O.
//!
//! monoio's timer entries are cache-padded and take about 650 bytes inside
//! every future that waits with a timeout; a held long-poll or WebSocket
//! would carry several. Connection timeouts are seconds long and need no
//! millisecond precision, so each worker keeps a plain slab of deadlines and
//! one ticker task wakes the expired ones every `TICK`. A wait costs a slot
//! in the slab and a few words in the future.
//!
//! The ticker also keeps the time of its last tick (`last_tick`): a clock
//! that costs no clock read, for everything that needs no finer resolution
//! than the ticker's: a wait's deadline (`deadline_after`) and its check
//! between wakes, how long a pooled connection idled. Reading the clock is
//! a vDSO call of 20-40 ns on a VM; a small proxied request read it six
//! times for its waits' deadlines before they came from the tick. nginx's
//! `timer_resolution` makes the same trade: one clock read per interval,
//! timers set from the cached time.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Resolution of every timeout in this module.
pub const TICK: Duration = Duration::from_millis(100);

/// The deadline passed before the wrapped future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

struct Slot {
    deadline: Instant,
    waker: Waker,
}

#[derive(Default)]
struct Slab {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
}

thread_local! {
    static SLAB: RefCell<Slab> = RefCell::new(Slab::default());
    static LAST_TICK: Cell<Instant> = Cell::new(Instant::now());
}

/// Runs for the life of a worker, waking waits whose deadline has passed.
pub async fn ticker() {
    loop {
        monoio::time::sleep(TICK).await;
        let now = Instant::now();
        LAST_TICK.set(now);
        wake_expired(now);
    }
}

/// When this thread's ticker last ran (the thread's start before its
/// first tick): behind the real time by up to a `TICK`, and by more only
/// while the worker is too busy to run its ticker.
pub fn last_tick() -> Instant {
    LAST_TICK.get()
}

fn wake_expired(now: Instant) {
    let expired: Vec<Waker> = SLAB.with(|slab| {
        let slab = slab.borrow();
        slab.slots
            .iter()
            .flatten()
            .filter(|slot| slot.deadline <= now)
            .map(|slot| slot.waker.clone())
            .collect()
    });
    for waker in expired {
        waker.wake();
    }
}

/// `future`, or `Err(Elapsed)` once `limit` has passed.
pub fn timeout<F: Future>(limit: Duration, future: F) -> Timeout<F> {
    timeout_at(deadline_after(limit), future)
}

/// The deadline `limit` from now, on the tick clock: the next tick is at
/// most a `TICK` after the last, so a wait given this deadline ends at the
/// first tick at least `limit` from now, as one from `Instant::now() +
/// limit` would, without reading the clock. (Only a worker stalled past a
/// tick, its ticker late, makes it end sooner, by the stall.)
pub fn deadline_after(limit: Duration) -> Instant {
    deadline_from(last_tick(), limit)
}

/// The deadline `limit` after `tick`, a time read from the tick clock
/// (`last_tick`), as `deadline_after` is from now: a `TICK` later, since the
/// real time was up to a `TICK` past `tick` when it was read.
pub fn deadline_from(tick: Instant, limit: Duration) -> Instant {
    tick + TICK + limit
}

pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        deadline,
        slot: None,
    }
}

/// Completes after `limit` (to the resolution of `TICK`).
pub fn sleep(limit: Duration) -> Timeout<std::future::Pending<()>> {
    sleep_until(deadline_after(limit))
}

/// Completes once `deadline` has passed (on the tick clock).
pub fn sleep_until(deadline: Instant) -> Timeout<std::future::Pending<()>> {
    timeout_at(deadline, std::future::pending())
}

pub struct Timeout<F> {
    future: F,
    deadline: Instant,
    slot: Option<usize>,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is never moved out of the pinned struct; the other
        // fields are plain data.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this` came from a pinned `Self` and `future` is never moved
        // out of it, so pinning it again is structural pinning.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        // Against the last tick, not the clock: a deadline passed since is
        // found by the next tick, which wakes this wait (the resolution is
        // the tick's either way), and a poll reads no clock.
        if last_tick() >= this.deadline {
            return Poll::Ready(Err(Elapsed));
        }
        register(&mut this.slot, this.deadline, cx.waker());
        Poll::Pending
    }
}

impl<F> Drop for Timeout<F> {
    fn drop(&mut self) {
        if let Some(index) = self.slot.take() {
            let _ = SLAB.try_with(|slab| {
                let mut slab = slab.borrow_mut();
                slab.slots[index] = None;
                slab.free.push(index);
            });
        }
    }
}

fn register(slot: &mut Option<usize>, deadline: Instant, waker: &Waker) {
    SLAB.with(|slab| {
        let mut slab = slab.borrow_mut();
        let entry = Slot {
            deadline,
            waker: waker.clone(),
        };
        match *slot {
            Some(index) => slab.slots[index] = Some(entry),
            None => {
                let index = match slab.free.pop() {
                    Some(index) => index,
                    None => {
                        slab.slots.push(None);
                        slab.slots.len() - 1
                    }
                };
                slab.slots[index] = Some(entry);
                *slot = Some(index);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn ready_future_wins_over_an_expired_deadline() {
        let mut done = Box::pin(timeout(Duration::ZERO, std::future::ready(7)));
        assert_eq!(poll_once(done.as_mut()), Poll::Ready(Ok(7)));
    }

    #[test]
    fn pending_future_times_out_after_the_deadline() {
        // Deadlines far on either side of now: a loaded machine can't make
        // a poll land on the wrong side of one.
        let now = Instant::now();
        let pending = std::future::pending::<()>;
        let mut waiting = Box::pin(timeout_at(now + Duration::from_secs(3600), pending()));
        assert!(poll_once(waiting.as_mut()).is_pending());
        let past = now.checked_sub(Duration::from_millis(1)).unwrap_or(now);
        let mut late = Box::pin(timeout_at(past, pending()));
        assert_eq!(poll_once(late.as_mut()), Poll::Ready(Err(Elapsed)));
    }

    #[test]
    fn a_wait_past_its_deadline_ends_at_the_tick_that_passes_it() {
        let deadline = Instant::now() + Duration::from_secs(3600);
        LAST_TICK.set(deadline - Duration::from_secs(1));
        let mut waiting = Box::pin(timeout_at(deadline, std::future::pending::<()>()));
        assert!(poll_once(waiting.as_mut()).is_pending());
        LAST_TICK.set(deadline);
        assert_eq!(poll_once(waiting.as_mut()), Poll::Ready(Err(Elapsed)));
    }

    #[test]
    fn a_timeout_counts_its_limit_from_the_tick_after_the_last() {
        let tick = Instant::now() + Duration::from_secs(3600);
        LAST_TICK.set(tick);
        let limit = Duration::from_secs(5);
        let mut waiting = Box::pin(timeout(limit, std::future::pending::<()>()));
        LAST_TICK.set(tick + limit);
        assert!(
            poll_once(waiting.as_mut()).is_pending(),
            "ended a tick early"
        );
        LAST_TICK.set(tick + TICK + limit);
        assert_eq!(poll_once(waiting.as_mut()), Poll::Ready(Err(Elapsed)));
    }

    #[test]
    fn dropped_waits_free_their_slot() {
        for _ in 0..3 {
            let mut waiting = Box::pin(sleep(Duration::from_secs(60)));
            assert!(poll_once(waiting.as_mut()).is_pending());
        }
        SLAB.with(|slab| {
            let slab = slab.borrow();
            assert_eq!(slab.slots.len(), 1, "the slot is reused");
            assert!(slab.slots.iter().all(Option::is_none));
        });
    }

    #[test]
    fn a_timeout_future_is_small() {
        let wait = timeout(Duration::from_secs(1), std::future::pending::<()>());
        assert!(
            std::mem::size_of_val(&wait) <= 48,
            "{}",
            std::mem::size_of_val(&wait)
        );
    }
}
