//! A worker's drain signal: once raised, accept loops stop and connections
//! waiting between requests close. Single-threaded, so plain cells suffice.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Drain {
    draining: Cell<bool>,
    /// Waiting tasks by slot; free slots are listed in `free`, so
    /// registering and deregistering cost no hashing or allocation.
    waiters: RefCell<Vec<Option<Waker>>>,
    free: RefCell<Vec<usize>>,
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
        for waker in waiters.into_iter().flatten() {
            waker.wake();
        }
    }

    /// Resolves once the signal is raised.
    pub fn wait(&self) -> DrainWait<'_> {
        DrainWait {
            drain: self,
            slot: None,
        }
    }

    fn register(&self, slot: &mut Option<usize>, waker: &Waker) {
        let mut waiters = self.waiters.borrow_mut();
        match *slot {
            Some(index) if index < waiters.len() => waiters[index] = Some(waker.clone()),
            _ => {
                let index = self.free.borrow_mut().pop().unwrap_or_else(|| {
                    waiters.push(None);
                    waiters.len() - 1
                });
                waiters[index] = Some(waker.clone());
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
}

impl Future for DrainWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.drain.is_draining() {
            return Poll::Ready(());
        }
        this.drain.register(&mut this.slot, cx.waker());
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
    fn start_releases_waiters() {
        let drain = Drain::default();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut wait = Box::pin(drain.wait());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        drain.start();
        assert!(wait.as_mut().poll(&mut cx).is_ready());
    }
}
