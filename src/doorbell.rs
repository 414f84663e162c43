//! Each worker's doorbell: how another thread wakes tasks of a worker.
//!
//! Wakers of a worker's runtime can't be woken from another thread. So the
//! other thread marks which bell it rings and, when none was marked,
//! writes a byte to a socket pair whose reading end a task of the worker
//! watches; that task takes the marks and wakes every local waiter of each
//! bell rung, and each waiter looks whether what it waits for is there.
//! A byte is sent only when no mark was pending, so hardly any are ever
//! outstanding: the pair never fills and no ring is lost. However many
//! wait, a worker's doorbell holds two descriptors.
//!
//! The bells:
//! - `Bell::Slots`: another worker hands a server slot (`max_connections`)
//!   to a request queued here (`upstream::limit`);
//! - `Bell::Files`: a file thread finished an open, a listing or a read for
//!   a request of this worker (`files::opener`).
//!
//! Only waiting requests ring: nothing here is on the path of a request
//! that didn't wait.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use monoio::io::AsyncReadRent;

/// What a ring is for: each has its own waiters, so a file thread's ring
/// doesn't wake every request queued for a server slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bell {
    Slots,
    Files,
}

impl Bell {
    const ALL: [Bell; 2] = [Bell::Slots, Bell::Files];

    fn mark(self) -> u8 {
        1 << self as u8
    }
}

/// A worker's door: the pair's writing end, and the bells rung since its
/// task last looked.
struct Door {
    writer: OwnedFd,
    rung: AtomicU8,
}

thread_local! {
    /// This worker's waiters, by bell.
    static LOCAL: [Rc<Waiters>; 2] = Default::default();
    /// This thread's worker id, once its doorbell is installed.
    static ME: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Each worker's door, by worker id.
static DOORS: Mutex<Vec<Option<Arc<Door>>>> = Mutex::new(Vec::new());

/// Sets up this worker's doorbell and starts the task that answers it.
pub fn install(worker: usize) -> io::Result<()> {
    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    writer.set_nonblocking(true)?;
    let reader = monoio::net::UnixStream::from_std(reader)?;
    let door = Arc::new(Door {
        writer: writer.into(),
        rung: AtomicU8::new(0),
    });
    {
        let mut doors = DOORS.lock().unwrap_or_else(PoisonError::into_inner);
        if doors.len() <= worker {
            doors.resize_with(worker + 1, || None);
        }
        doors[worker] = Some(Arc::clone(&door));
    }
    ME.with(|me| me.set(Some(worker)));
    monoio::spawn(answer(reader, door));
    Ok(())
}

async fn answer(mut reader: monoio::net::UnixStream, door: Arc<Door>) {
    let mut buf = vec![0u8; 64];
    loop {
        let (read, back) = reader.read(buf).await;
        buf = back;
        if matches!(read, Ok(0) | Err(_)) {
            return;
        }
        // Taken after the byte: a ring marked since is seen now, or sends
        // a byte of its own.
        let rung = door.rung.swap(0, Ordering::AcqRel);
        for bell in Bell::ALL {
            if rung & bell.mark() != 0 {
                local(bell).wake_all();
            }
        }
    }
}

/// This thread's worker id, when its doorbell is installed (else nobody
/// can ring for it: wait some other way).
pub fn me() -> Option<usize> {
    ME.with(Cell::get)
}

/// This worker's waiters of `bell`, to wait on.
pub fn local(bell: Bell) -> Rc<Waiters> {
    LOCAL.with(|waiters| Rc::clone(&waiters[bell as usize]))
}

/// Wakes the waiters of `bell` on `worker`, from any thread.
pub fn ring(worker: usize, bell: Bell) {
    if me() == Some(worker) {
        local(bell).wake_all();
        return;
    }
    let door = {
        let doors = DOORS.lock().unwrap_or_else(PoisonError::into_inner);
        doors.get(worker).and_then(Option::clone)
    };
    let Some(door) = door else {
        return;
    };
    if door.rung.fetch_or(bell.mark(), Ordering::AcqRel) != 0 {
        // Marked before and not yet taken: that ring's byte brings this too.
        return;
    }
    // SAFETY: a one-byte write from a valid local on a socket the door
    // owns. It isn't refused for room (a byte goes only with a first mark);
    // a worker that is gone takes no ring (NOSIGNAL).
    unsafe {
        libc::send(
            door.writer.as_raw_fd(),
            [1u8].as_ptr().cast(),
            1,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        );
    }
}

/// Tasks of one worker waiting for something another task or thread
/// makes. A wake wakes every one, and each checks again. A wait dropped
/// before its wake (its deadline passed, its client left) takes its waker
/// back: a waker keeps its task's memory alive, and a queue whose waiters
/// time out while nothing rings must not hold every one of them (it did:
/// 2.5 KB per request refused 503 from a full server's queue, until the
/// next ring).
#[derive(Default)]
pub struct Waiters {
    slots: RefCell<Slots>,
}

/// The registered wakers; a dropped wait's slot is emptied and reused.
#[derive(Default)]
struct Slots {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
    /// Wakes so far: a place taken before the last wake is gone.
    round: u64,
    waiting: usize,
}

impl Waiters {
    /// Resolves at the next `wake_all` (or spuriously): check again then.
    pub fn wait(&self) -> NextWake<'_> {
        NextWake {
            waiters: self,
            place: None,
        }
    }

    pub fn wake_all(&self) {
        let wakers = {
            let mut slots = self.slots.borrow_mut();
            slots.round += 1;
            slots.free.clear();
            slots.waiting = 0;
            std::mem::take(&mut slots.wakers)
        };
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }

    /// Waits registered and not yet woken or dropped.
    pub fn len(&self) -> usize {
        self.slots.borrow().waiting
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn register(&self, waker: Waker) -> Place {
        let mut slots = self.slots.borrow_mut();
        let index = match slots.free.pop() {
            Some(index) => {
                slots.wakers[index] = Some(waker);
                index
            }
            None => {
                slots.wakers.push(Some(waker));
                slots.wakers.len() - 1
            }
        };
        slots.waiting += 1;
        Place {
            round: slots.round,
            index,
        }
    }

    /// Takes back the waker at `place`, unless a wake took it already.
    /// The waker is dropped once the slots are let go: dropping one may
    /// end a task, whose own waits then come here.
    fn forget(&self, place: Place) {
        let taken = {
            let mut slots = self.slots.borrow_mut();
            if slots.round != place.round {
                return;
            }
            let taken = slots.wakers.get_mut(place.index).and_then(Option::take);
            if taken.is_some() {
                slots.free.push(place.index);
                slots.waiting -= 1;
            }
            taken
        };
        drop(taken);
    }
}

/// Where a wait's waker is: its slot, in the round it was put there.
#[derive(Clone, Copy)]
struct Place {
    round: u64,
    index: usize,
}

/// `Waiters::wait`'s future.
pub struct NextWake<'a> {
    waiters: &'a Waiters,
    place: Option<Place>,
}

impl Future for NextWake<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.place.is_some() {
            return Poll::Ready(());
        }
        let place = self.waiters.register(cx.waker().clone());
        self.place = Some(place);
        Poll::Pending
    }
}

impl Drop for NextWake<'_> {
    fn drop(&mut self) {
        if let Some(place) = self.place {
            self.waiters.forget(place);
        }
    }
}

/// For tests here and of what rings a doorbell (`files::opener`): runs
/// `test` on a worker's runtime, with worker `id`'s doorbell installed when
/// given (ids far above any other test's). It fails if `test` has not
/// ended in 5 s: a wait its ring should have ended, ended instead by a
/// later look or a guard, would pass a test that only checks its result.
#[cfg(test)]
pub(crate) fn on_test_worker(id: Option<usize>, test: impl AsyncFnOnce()) {
    let (mut runtime, _) = crate::runtime::build().expect("runtime");
    runtime.block_on(async move {
        if let Some(id) = id {
            install(id).expect("doorbell");
        }
        let began = std::time::Instant::now();
        let guarded = monoio::time::timeout(std::time::Duration::from_secs(10), test()).await;
        assert!(guarded.is_ok(), "still waiting after 10 s");
        assert!(
            began.elapsed() < std::time::Duration::from_secs(5),
            "ended only when the guard woke the test"
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_worker(id: usize, test: impl AsyncFnOnce()) {
        on_test_worker(Some(id), test);
    }

    /// Registers `wait` (its first poll) without waiting.
    async fn register(wait: &mut NextWake<'_>) {
        std::future::poll_fn(|cx| {
            let _ = Pin::new(&mut *wait).poll(cx);
            Poll::Ready(())
        })
        .await;
    }

    /// Returns once `waiters`' wakers were taken (woken).
    async fn woken(waiters: &Waiters) {
        while !waiters.is_empty() {
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    fn ring_from_another_thread(worker: usize, bells: &'static [Bell]) {
        std::thread::spawn(move || bells.iter().for_each(|&bell| ring(worker, bell)))
            .join()
            .expect("ringer");
    }

    /// On worker `id`, a wait on each bell; `bells` rung from another
    /// thread; `then` runs while both waits are still registered.
    async fn ring_while_both_wait(
        id: usize,
        bells: &'static [Bell],
        then: impl AsyncFnOnce(&Waiters, &Waiters),
    ) {
        let (slots, files) = (local(Bell::Slots), local(Bell::Files));
        let mut slot_wait = slots.wait();
        register(&mut slot_wait).await;
        let mut file_wait = files.wait();
        register(&mut file_wait).await;
        ring_from_another_thread(id, bells);
        then(&slots, &files).await;
    }

    #[test]
    fn a_ring_from_another_thread_wakes_the_waiters_of_its_bell_only() {
        on_worker(9101, async || {
            ring_while_both_wait(9101, &[Bell::Files], async |slots, files| {
                woken(files).await;
                assert_eq!(slots.len(), 1, "a file thread's ring woke the slot waiters");
            })
            .await;
        });
    }

    #[test]
    fn two_bells_rung_before_the_worker_looks_wake_both() {
        on_worker(9102, async || {
            // The second ring finds the first's mark: it sends no byte.
            let bells = &[Bell::Slots, Bell::Files];
            ring_while_both_wait(9102, bells, async |slots, files| {
                woken(files).await;
                woken(slots).await;
            })
            .await;
        });
    }

    /// A task's stand-in: counts its wakes; its `Arc`'s count is how many
    /// wakers of it are alive.
    #[derive(Default)]
    struct Task(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Task {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Polls `wait` once as `task` would.
    fn poll_as(task: &std::sync::Arc<Task>, wait: &mut NextWake<'_>) -> Poll<()> {
        let waker = Waker::from(std::sync::Arc::clone(task));
        Pin::new(wait).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn a_wait_dropped_before_its_wake_lets_its_task_go() {
        let waiters = Waiters::default();
        let task = std::sync::Arc::new(Task::default());
        let mut wait = waiters.wait();
        assert!(poll_as(&task, &mut wait).is_pending());
        assert_eq!(std::sync::Arc::strong_count(&task), 2, "the waker kept");
        drop(wait);
        assert_eq!(
            std::sync::Arc::strong_count(&task),
            1,
            "a dropped wait's waker still holds its task"
        );
        assert!(waiters.is_empty());
    }

    #[test]
    fn waits_that_come_and_go_reuse_their_places_and_the_next_wake_finds_the_one_left() {
        let waiters = Waiters::default();
        let task = std::sync::Arc::new(Task::default());
        for _ in 0..1000 {
            let mut wait = waiters.wait();
            assert!(poll_as(&task, &mut wait).is_pending());
        }
        assert_eq!(waiters.slots.borrow().wakers.len(), 1, "places not reused");
        let mut staying = waiters.wait();
        assert!(poll_as(&task, &mut staying).is_pending());
        waiters.wake_all();
        assert_eq!(task.0.load(Ordering::Relaxed), 1);
        // Dropped after the wake: it takes nothing from the next round.
        let mut next = waiters.wait();
        assert!(poll_as(&task, &mut next).is_pending());
        drop(staying);
        assert_eq!(waiters.len(), 1);
    }
}
