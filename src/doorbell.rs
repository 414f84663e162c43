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
/// makes. A wake wakes every one, and each checks again: a waiter that
/// went away leaves only a stale waker, which is harmless to wake.
#[derive(Default)]
pub struct Waiters {
    wakers: RefCell<Vec<Waker>>,
}

impl Waiters {
    /// Resolves at the next `wake_all` (or spuriously): check again then.
    pub fn wait(&self) -> NextWake<'_> {
        NextWake {
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

/// `Waiters::wait`'s future.
pub struct NextWake<'a> {
    waiters: &'a Waiters,
    registered: bool,
}

impl Future for NextWake<'_> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` on a worker's runtime whose doorbell is worker `id` (ids
    /// far above any other test's).
    fn on_worker(id: usize, test: impl AsyncFnOnce()) {
        let (mut runtime, _) = crate::runtime::build().expect("runtime");
        runtime.block_on(async move {
            install(id).expect("doorbell");
            let guarded = monoio::time::timeout(std::time::Duration::from_secs(10), test());
            assert!(guarded.await.is_ok(), "not woken in 10 s");
        });
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

    /// On worker `id`, a waiter of each bell; `bells` rung from another
    /// thread. Once the Files waiter is woken: how many Slots waiters are
    /// still waiting.
    async fn ring_with_both_waiting(id: usize, bells: &'static [Bell]) -> usize {
        let (slots, files) = (local(Bell::Slots), local(Bell::Files));
        let mut slot_wait = slots.wait();
        register(&mut slot_wait).await;
        let mut file_wait = files.wait();
        register(&mut file_wait).await;
        ring_from_another_thread(id, bells);
        woken(&files).await;
        slots.len()
    }

    #[test]
    fn a_ring_from_another_thread_wakes_the_waiters_of_its_bell_only() {
        on_worker(9101, async || {
            let waiting = ring_with_both_waiting(9101, &[Bell::Files]).await;
            assert_eq!(waiting, 1, "a file thread's ring woke the slot waiters");
        });
    }

    #[test]
    fn two_bells_rung_before_the_worker_looks_wake_both() {
        on_worker(9102, async || {
            // The second ring finds the first's mark: it sends no byte.
            ring_with_both_waiting(9102, &[Bell::Slots, Bell::Files]).await;
            woken(&local(Bell::Slots)).await;
        });
    }
}
