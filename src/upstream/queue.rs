//! Requests waiting for a free connection slot (`max_connections`), per
//! backend and per worker. A freed slot wakes every waiter, and each one
//! checks again: waiters are few and local, and a waiter that timed out
//! leaves only a stale waker, which is harmless to wake.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub struct Waiters {
    wakers: RefCell<Vec<Waker>>,
}

impl Waiters {
    /// Resolves at the next `wake_all` (or spuriously): check again then.
    pub fn wait(&self) -> SlotWait<'_> {
        SlotWait {
            waiters: self,
            registered: false,
        }
    }

    pub fn wake_all(&self) {
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for waker in wakers {
            waker.wake();
        }
    }

    pub fn len(&self) -> usize {
        self.wakers.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct SlotWait<'a> {
    waiters: &'a Waiters,
    registered: bool,
}

impl Future for SlotWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.registered {
            return Poll::Ready(());
        }
        self.registered = true;
        self.waiters.wakers.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}
