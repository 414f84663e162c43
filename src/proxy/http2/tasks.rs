//! The stream tasks of one HTTP/2 connection: how many are alive, and how
//! many of their streams the client reset.
//!
//! Rapid reset with a delay (CVE-2023-44487 done slowly): the client opens
//! a stream, waits until tern has accepted it, then resets it. The reset
//! frees the stream's place in `h2` at once, so `h2`'s concurrent-stream
//! limit bounds nothing tern does (each accepted stream is a task that
//! connects upstream), and `h2`'s pending-accept limit never sees a reset
//! that lands after the accept. Two bounds, as Go's x/net/http2 and Envoy
//! answered the CVE:
//! - live tasks: a stream's task counts until it has ended, reset or not,
//!   and `serve` accepts no stream while the advertised max concurrent
//!   streams are alive (backpressure, as Go bounds its handlers). The
//!   connection is still driven meanwhile; streams the client opens wait
//!   in `h2`, within the advertised limit, and resetting them counts
//!   against `h2`'s pending-accept limit. Upstream work per connection is
//!   bounded by concurrency, whatever the client does with RST_STREAM.
//! - a budget of resets: a connection whose client reset more than
//!   `floor` streams under their tasks, and more than half of the streams
//!   it opened, trips `Calm`, and `serve` ends it with GOAWAY
//!   ENHANCE_YOUR_CALM (Envoy's premature-reset check: more than half, once
//!   500 streams were opened).
//!
//! The floor is twice the advertised concurrent streams, and at least
//! `RESETS_FLOOR`: a browser that leaves a page cancels at most one
//! window of streams at once, and one that cancels some of its requests
//! (a seek, a closed tab) never resets most of them. An attacker is held
//! to about the floor, plus one window, of upstream requests per
//! connection (nginx ends one after 1,000 requests).

use std::cell::Cell;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use h2::Reason;

use super::watch::Calm;

/// The least number of resets that can end a connection.
pub const RESETS_FLOOR: u64 = 100;

/// The stream tasks of one connection.
pub struct Tasks {
    live: Cell<usize>,
    /// Tasks that may be alive at once: the advertised max concurrent
    /// streams.
    cap: usize,
    /// Streams accepted, and those of them the client reset.
    opened: Cell<u64>,
    reset: Cell<u64>,
    /// Resets that never end a connection, whatever their share.
    floor: u64,
    /// `serve`, waiting for a task to end.
    waker: Cell<Option<Waker>>,
    calm: Rc<Calm>,
}

/// One stream's task, alive until this drops.
pub struct Task(Rc<Tasks>);

impl Tasks {
    /// The tasks of a connection advertising `max_concurrent_streams`,
    /// its budget of resets tripping `calm`.
    pub fn new(max_concurrent_streams: u32, calm: Rc<Calm>) -> Rc<Tasks> {
        let cap = usize::try_from(max_concurrent_streams).unwrap_or(usize::MAX);
        Rc::new(Tasks {
            live: Cell::new(0),
            cap,
            opened: Cell::new(0),
            reset: Cell::new(0),
            floor: RESETS_FLOOR.max(2 * u64::from(max_concurrent_streams)),
            waker: Cell::new(None),
            calm,
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

    /// Counts a stream accepted and its task alive until the guard drops.
    pub fn start(self: &Rc<Self>) -> Task {
        self.live.set(self.live.get() + 1);
        self.opened.set(self.opened.get() + 1);
        Task(self.clone())
    }

    /// Whether the client resets most of what it opens, past the floor.
    fn over_budget(&self) -> bool {
        let reset = self.reset.get();
        reset > self.floor && reset.saturating_mul(2) > self.opened.get()
    }
}

impl Task {
    /// The client reset this task's stream before its response ended.
    pub fn reset_by_client(&self) {
        let tasks = &self.0;
        tasks.reset.set(tasks.reset.get() + 1);
        if tasks.over_budget() {
            tasks.calm.trip(Reason::ENHANCE_YOUR_CALM);
        }
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
        let tasks = Tasks::new(2, Rc::new(Calm::default()));
        let first = tasks.start();
        let second = tasks.start();
        assert!(!room(&tasks));
        // A reset stream's task still counts until it ends.
        first.reset_by_client();
        assert!(!room(&tasks));
        drop(first);
        assert!(room(&tasks));
        drop(second);
    }

    #[test]
    fn a_client_resetting_most_streams_past_the_floor_trips_calm() {
        let calm = Rc::new(Calm::default());
        let tasks = Tasks::new(10, calm.clone());
        for _ in 0..RESETS_FLOOR {
            tasks.start().reset_by_client();
        }
        assert!(!calm.tripped(), "not past the floor yet");
        tasks.start().reset_by_client();
        assert!(calm.tripped());
    }

    #[test]
    fn resets_among_more_finished_streams_never_trip() {
        let calm = Rc::new(Calm::default());
        let tasks = Tasks::new(10, calm.clone());
        for _ in 0..1000 {
            drop(tasks.start());
            tasks.start().reset_by_client();
        }
        assert!(!calm.tripped(), "half reset is not most");
    }

    #[test]
    fn the_floor_is_two_windows_of_streams() {
        let calm = Rc::new(Calm::default());
        let tasks = Tasks::new(128, calm.clone());
        for _ in 0..256 {
            tasks.start().reset_by_client();
        }
        assert!(!calm.tripped());
        tasks.start().reset_by_client();
        assert!(calm.tripped());
    }
}
