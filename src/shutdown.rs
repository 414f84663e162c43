//! A worker's drain signal: once raised, accept loops stop and connections
//! waiting between requests close. Single-threaded, so plain cells suffice.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Drain {
    draining: Cell<bool>,
    next_id: Cell<u64>,
    waiters: RefCell<HashMap<u64, Waker>>,
}

impl Drain {
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Raises the signal and wakes everything waiting on it.
    pub fn start(&self) {
        self.draining.set(true);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters.into_values() {
            waker.wake();
        }
    }

    /// Resolves once the signal is raised.
    pub fn wait(&self) -> DrainWait<'_> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        DrainWait { drain: self, id }
    }
}

/// Registered only while pending, and deregistered on drop, so a connection
/// that waits many times leaves nothing behind.
pub struct DrainWait<'a> {
    drain: &'a Drain,
    id: u64,
}

impl Future for DrainWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.drain.is_draining() {
            return Poll::Ready(());
        }
        self.drain
            .waiters
            .borrow_mut()
            .insert(self.id, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for DrainWait<'_> {
    fn drop(&mut self) {
        self.drain.waiters.borrow_mut().remove(&self.id);
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
        assert!(drain.waiters.borrow().is_empty());
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
