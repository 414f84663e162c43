//! When an HTTP/2 connection became idle: the streams still being served
//! and the moment the last one ended.
//!
//! `client_idle` counts from the end of the connection's last stream (as
//! nginx's HTTP/2 keep-alive does), not from when one was opened: a
//! long-poll that ends just before a check must not have its connection
//! sent GOAWAY moments later. h2 tells whether streams exist but not when
//! the last one ended, so each stream's task holds a `Serving` and stamps
//! the time as it lets go, and wakes the connection's accept loop
//! (`poll_idle`), which then offers the connection to give way at the
//! connection cap (`shutdown::Drain::wait_idle`).

use std::cell::Cell;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The streams of one connection being served, and since when none has been.
pub struct Idle {
    serving: Cell<usize>,
    since: Cell<Instant>,
    /// The accept loop, waiting for the last stream to end.
    on_idle: Cell<Option<Waker>>,
}

/// One stream being served; the connection is not idle while it lives.
pub struct Serving(Rc<Idle>);

impl Idle {
    /// A connection with no stream yet: idle from now.
    pub fn new() -> Rc<Idle> {
        Rc::new(Idle {
            serving: Cell::new(0),
            since: Cell::new(crate::timer::last_tick()),
            on_idle: Cell::new(None),
        })
    }

    /// Whether no stream is being served.
    pub fn is_idle(&self) -> bool {
        self.serving.get() == 0
    }

    /// Ready once no stream is being served.
    pub fn poll_idle(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_idle() {
            return Poll::Ready(());
        }
        self.on_idle.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// Marks a stream as served until the returned guard drops.
    pub fn serving(self: &Rc<Self>) -> Serving {
        self.serving.set(self.serving.get() + 1);
        Serving(self.clone())
    }

    /// When the connection will have idled for `limit`, if no stream starts
    /// meanwhile; `None` while a stream is being served. (`since` is on the
    /// tick clock: `timer::deadline_from`.)
    pub fn deadline(&self, limit: Duration) -> Option<Instant> {
        (self.serving.get() == 0).then(|| crate::timer::deadline_from(self.since.get(), limit))
    }

    /// Whether no stream has been served for `limit` (on the tick clock).
    pub fn idled(&self, limit: Duration) -> bool {
        self.deadline(limit)
            .is_some_and(|at| crate::timer::last_tick() >= at)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let idle = &self.0;
        idle.serving.set(idle.serving.get() - 1);
        if idle.serving.get() == 0 {
            idle.since.set(crate::timer::last_tick());
            if let Some(waker) = idle.on_idle.take() {
                waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_from_the_end_of_its_last_stream() {
        let idle = Idle::new();
        let limit = Duration::from_secs(1);
        let first = idle.serving();
        let second = idle.serving();
        drop(first);
        assert_eq!(idle.deadline(limit), None, "one stream still served");
        idle.since.set(Instant::now() - Duration::from_secs(60));
        drop(second);
        let deadline = idle.deadline(limit).expect("no stream served");
        assert_eq!(
            deadline,
            crate::timer::last_tick() + crate::timer::TICK + limit
        );
        assert!(!idle.idled(limit), "the last stream has only just ended");
    }

    #[test]
    fn a_connection_without_streams_for_the_limit_has_idled() {
        let idle = Idle::new();
        let limit = Duration::from_secs(1);
        idle.since
            .set(crate::timer::last_tick() - Duration::from_secs(2));
        assert!(idle.idled(limit));
        let serving = idle.serving();
        assert!(!idle.idled(limit), "a stream is served");
        drop(serving);
        assert!(!idle.idled(limit), "idle again only from the stream's end");
    }
}
