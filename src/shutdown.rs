//! A worker's drain signal: once raised, accept loops stop and connections
//! waiting between requests close. It also asks some idle connections to
//! give way (`give_way`): a worker at its connection cap with clients in its
//! listen queue closes idle keep-alive connections, oldest waiters first,
//! as nginx reuses connections when its `worker_connections` run out.
//! Single-threaded, so plain cells suffice.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Drain {
    draining: Cell<bool>,
    /// Waiting tasks by slot; free slots are listed in `free`, so
    /// registering and deregistering cost no hashing or allocation.
    waiters: RefCell<Vec<Option<Waiter>>>,
    free: RefCell<Vec<usize>>,
}

/// A waiting task, and whether it may be asked to give way.
enum Waiter {
    /// Between requests: may be closed to make room.
    Idle(Waker),
    /// Ends only with the drain.
    Busy(Waker),
    /// Asked to give way; its wait resolves at its next poll.
    Chosen,
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Raises the signal and wakes everything waiting on it.
    pub fn start(&self) {
        self.draining.set(true);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        self.free.borrow_mut().clear();
        for waiter in waiters.into_iter().flatten() {
            if let Waiter::Idle(waker) | Waiter::Busy(waker) = waiter {
                waker.wake();
            }
        }
    }

    /// Resolves once the signal is raised.
    pub fn wait(&self) -> DrainWait<'_> {
        DrainWait {
            drain: self,
            slot: None,
            idle: false,
        }
    }

    /// Resolves once the signal is raised, or this wait is asked to give
    /// way: for a connection waiting between requests.
    pub fn wait_idle(&self) -> DrainWait<'_> {
        DrainWait {
            drain: self,
            slot: None,
            idle: true,
        }
    }

    /// Ends up to `count` idle waits, those in the lowest slots first (the
    /// longest waiting, roughly: slots are reused as waits end); returns
    /// how many.
    pub fn give_way(&self, count: usize) -> usize {
        let mut chosen = 0;
        for waiter in self.waiters.borrow_mut().iter_mut() {
            if chosen == count {
                break;
            }
            if let Some(Waiter::Idle(_)) = waiter {
                if let Some(Waiter::Idle(waker)) = waiter.replace(Waiter::Chosen) {
                    waker.wake();
                }
                chosen += 1;
            }
        }
        chosen
    }

    /// Whether the wait in `slot` was asked to give way (its slot is then
    /// freed).
    fn take_chosen(&self, slot: usize) -> bool {
        let mut waiters = self.waiters.borrow_mut();
        let chosen = matches!(waiters.get(slot), Some(Some(Waiter::Chosen)));
        if chosen {
            waiters[slot] = None;
            self.free.borrow_mut().push(slot);
        }
        chosen
    }

    fn register(&self, slot: &mut Option<usize>, waker: &Waker, idle: bool) {
        let waiter = match idle {
            true => Waiter::Idle(waker.clone()),
            false => Waiter::Busy(waker.clone()),
        };
        let mut waiters = self.waiters.borrow_mut();
        match *slot {
            Some(index) if index < waiters.len() => waiters[index] = Some(waiter),
            _ => {
                let index = self.free.borrow_mut().pop().unwrap_or_else(|| {
                    waiters.push(None);
                    waiters.len() - 1
                });
                waiters[index] = Some(waiter);
                *slot = Some(index);
            }
        }
    }

    fn deregister(&self, slot: usize) {
        let mut waiters = self.waiters.borrow_mut();
        if let Some(entry) = waiters.get_mut(slot) {
            *entry = None;
            self.free.borrow_mut().push(slot);
        }
    }
}

/// Registered only while pending, and deregistered on drop, so a connection
/// that waits many times leaves nothing behind.
pub struct DrainWait<'a> {
    drain: &'a Drain,
    slot: Option<usize>,
    /// May be asked to give way.
    idle: bool,
}

impl Future for DrainWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.drain.is_draining() {
            return Poll::Ready(());
        }
        if let Some(slot) = this.slot {
            if this.drain.take_chosen(slot) {
                this.slot = None;
                return Poll::Ready(());
            }
        }
        this.drain.register(&mut this.slot, cx.waker(), this.idle);
        Poll::Pending
    }
}

impl Drop for DrainWait<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            if !self.drain.is_draining() {
                self.drain.deregister(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_waits_leave_no_waker_behind() {
        let drain = Drain::default();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..3 {
            let mut wait = Box::pin(drain.wait());
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        }
        assert!(drain.waiters.borrow().iter().all(Option::is_none));
        assert_eq!(drain.waiters.borrow().len(), 1, "the slot is reused");
    }

    #[test]
    fn give_way_ends_idle_waits_only_and_as_many_as_asked() {
        let drain = Drain::default();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut busy = Box::pin(drain.wait());
        let mut idle: Vec<_> = (0..3).map(|_| Box::pin(drain.wait_idle())).collect();
        assert!(busy.as_mut().poll(&mut cx).is_pending());
        for wait in &mut idle {
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(drain.give_way(2), 2);
        assert!(
            busy.as_mut().poll(&mut cx).is_pending(),
            "a busy wait stays"
        );
        let ended: Vec<bool> = idle
            .iter_mut()
            .map(|wait| wait.as_mut().poll(&mut cx).is_ready())
            .collect();
        assert_eq!(ended, [true, true, false], "the first two waiting");
        assert_eq!(drain.give_way(5), 1, "one idle wait left");
        drop(idle);
        drop(busy);
        assert!(drain.waiters.borrow().iter().all(Option::is_none));
    }

    #[test]
    fn start_releases_waiters() {
        let drain = Drain::default();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut wait = Box::pin(drain.wait());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        drain.start();
        assert!(wait.as_mut().poll(&mut cx).is_ready());
    }
}
