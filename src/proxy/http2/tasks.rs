//! The stream tasks of one HTTP/2 connection: how many are alive.
//!
//! Rapid reset with a delay (CVE-2023-44487 done slowly): the client opens
//! a stream, waits until tern has accepted it, then resets it. The reset
//! frees the stream's place in `h2` at once, so `h2`'s concurrent-stream
//! limit bounds nothing tern does (each accepted stream is a task that
//! connects upstream), and `h2`'s pending-accept limit never sees a reset
//! that lands after the accept. So a stream's task counts until it has
//! ended, reset or not, and `serve` accepts no stream while the advertised
//! max concurrent streams are alive (backpressure, as Go's x/net/http2
//! bounds its handlers). The connection is still driven meanwhile; streams
//! the client opens wait in `h2`, within the advertised limit, and
//! resetting them counts against `h2`'s pending-accept limit. Upstream
//! work per connection is bounded by concurrency, whatever the client does
//! with RST_STREAM.

use std::cell::Cell;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The stream tasks of one connection.
pub struct Tasks {
    live: Cell<usize>,
    /// Tasks that may be alive at once: the advertised max concurrent
    /// streams.
    cap: usize,
    /// `serve`, waiting for a task to end.
    waker: Cell<Option<Waker>>,
}

/// One stream's task, alive until this drops.
pub struct Task(Rc<Tasks>);

impl Tasks {
    /// The tasks of a connection advertising `max_concurrent_streams`.
    pub fn new(max_concurrent_streams: u32) -> Rc<Tasks> {
        let cap = usize::try_from(max_concurrent_streams).unwrap_or(usize::MAX);
        Rc::new(Tasks {
            live: Cell::new(0),
            cap,
            waker: Cell::new(None),
        })
    }

    /// Ready while fewer than `cap` tasks are alive; else woken when one
    /// ends.
    pub fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.live.get() < self.cap {
            return Poll::Ready(());
        }
        self.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }

    /// Counts a stream's task alive until the guard drops.
    pub fn start(self: &Rc<Self>) -> Task {
        self.live.set(self.live.get() + 1);
        Task(self.clone())
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let tasks = &self.0;
        tasks.live.set(tasks.live.get() - 1);
        if let Some(waker) = tasks.waker.take() {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(tasks: &Tasks) -> bool {
        tasks
            .poll_room(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    #[test]
    fn no_room_while_the_cap_of_tasks_is_alive() {
        let tasks = Tasks::new(2);
        let first = tasks.start();
        let second = tasks.start();
        assert!(!room(&tasks));
        drop(first);
        assert!(room(&tasks));
        drop(second);
    }
}
