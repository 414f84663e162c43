//! Opening on the file threads the files whose lookup needs the disk, so
//! no worker waits for it.
//!
//! The ring can't do it for us: `openat2` with `RESOLVE_BENEATH` is an
//! io_uring operation monoio 0.2.4 doesn't submit. So each open (and each
//! directory listing of such a root, `list`) is a task for the file threads
//! (`pool.rs`): the thread leaves what it made in the task's `Done` and
//! rings the waiting worker's doorbell (`crate::doorbell`), which the
//! worker hears like any client's bytes (io_uring, or epoll's readiness).
//! A waiting request holds no descriptor for it: the doorbell is one pair
//! per worker, however many wait (the connection cap counts the rest).
//!
//! A request the queue can't take waits for room, asking again after
//! pauses that double up to `MAX_PAUSE`: a burst of names after a cold
//! start drains in milliseconds on a working disk. Past `QUEUE_WAIT` it is
//! answered 503: a filesystem that hangs must not take the workers, and the
//! proxied traffic with them (nginx answers 500 at once when its thread
//! pool's queue overflows). A task no thread can be started for runs in
//! place: the worker waits, as it did before, but the request is answered.
//! A task that panics is answered 500 (`Deny::Lost`).
//! Counted in `tern_static_slow_opens_total`.

use std::fs::File;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::deny::Deny;
use super::open::{c_path, open_waiting, OpenFile};
use super::pool::{self, Refused};
use super::site::StaticSite;
use crate::doorbell::{self, Bell};

/// How long a request waits for room in the queue before its 503.
const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// The longest pause between two asks for room.
const MAX_PAUSE: Duration = Duration::from_millis(64);

/// Files opened (and directories listed) off the worker, since start.
static SLOW_OPENS: AtomicU64 = AtomicU64::new(0);
/// Set from a request the full queue refused until one is queued again:
/// the warning is logged once per episode.
static BEHIND: AtomicBool = AtomicBool::new(false);

/// Files whose lookup needed the disk, opened on a file thread (and
/// directories listed there).
pub fn slow_opens() -> u64 {
    SLOW_OPENS.load(Relaxed)
}

/// Opens `rel` beneath the site's root on a file thread, waiting for it
/// through the ring.
pub async fn open(site: &StaticSite, rel: &[u8]) -> Result<OpenFile, Deny> {
    let c_rel = Arc::new(c_path(rel).map_err(|_| Deny::Forbidden("NUL"))?);
    let root = site.root.held_fd();
    on_file_thread(Some(&SLOW_OPENS), || {
        let (root, rel) = (Arc::clone(&root), Arc::clone(&c_rel));
        move || open_waiting(root.as_fd(), &rel)
    })
    .await?
}

/// Renders the listing of the open directory `dir` on a file thread.
pub async fn list(dir: Arc<File>, shown_path: &[u8]) -> Result<Vec<u8>, Deny> {
    let shown_path: Arc<[u8]> = Arc::from(shown_path);
    on_file_thread(Some(&SLOW_OPENS), || {
        let (dir, shown_path) = (Arc::clone(&dir), Arc::clone(&shown_path));
        move || {
            super::listing::render(&dir, &shown_path)
                .map_err(|_| Deny::Forbidden("directory can't be read"))
        }
    })
    .await?
}

/// Runs what `make_work` makes on a file thread (counted in `counted`),
/// waiting for it through the worker's doorbell; in place when no thread
/// can be started; `Deny::Busy` after `QUEUE_WAIT` of a full queue (each
/// try makes its work anew).
pub(super) async fn on_file_thread<T, W>(
    counted: Option<&AtomicU64>,
    make_work: impl Fn() -> W,
) -> Result<T, Deny>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
{
    let deadline = Instant::now() + QUEUE_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        let done = Arc::new(Done::default());
        let finisher = Finisher {
            done: Some(Arc::clone(&done)),
            worker: doorbell::me(),
        };
        let work = make_work();
        match pool::submit(Box::new(move || finisher.finish(work()))) {
            Ok(()) => {
                if let Some(counter) = counted {
                    counter.fetch_add(1, Relaxed);
                }
                // Read first: a store on every miss would bounce the line
                // between the workers.
                if BEHIND.load(Relaxed) {
                    BEHIND.store(false, Relaxed);
                }
                return done.wait().await;
            }
            Err(Refused::NoThread(task)) => {
                task();
                return done.wait().await;
            }
            Err(Refused::QueueFull) if Instant::now() < deadline => {
                monoio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            Err(Refused::QueueFull) => return Err(refused_busy()),
        }
    }
}

/// A request that waited `QUEUE_WAIT` for room: warned of once per episode.
fn refused_busy() -> Deny {
    if !BEHIND.swap(true, Relaxed) {
        crate::log::warn(format_args!(
            "static files: the file threads' queue ({} names) stayed full for {}s (a filesystem that hangs?); answering 503 to requests for names not cached until it has room again",
            pool::QUEUED,
            QUEUE_WAIT.as_secs()
        ));
    }
    Deny::Busy
}

/// Where a file thread leaves what its work made for the worker waiting.
/// No descriptor of its own: the worker's doorbell says it is there.
struct Done<T> {
    outcome: Mutex<Outcome<T>>,
}

enum Outcome<T> {
    Waiting,
    Made(T),
    /// The work ended without making anything (it panicked).
    Lost,
}

impl<T> Default for Done<T> {
    fn default() -> Self {
        Done {
            outcome: Mutex::new(Outcome::Waiting),
        }
    }
}

impl<T> Done<T> {
    /// Waits for the work: woken by the worker's doorbell, or, on a thread
    /// without one, looking again every millisecond.
    async fn wait(&self) -> Result<T, Deny> {
        loop {
            match std::mem::replace(&mut *self.lock(), Outcome::Waiting) {
                Outcome::Made(made) => return Ok(made),
                Outcome::Lost => return Err(Deny::Lost),
                Outcome::Waiting => {}
            }
            if doorbell::me().is_some() {
                doorbell::local(Bell::Files).wait().await;
            } else {
                monoio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Outcome<T>> {
        self.outcome.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The file thread's side of a `Done`: leaves what the work made, or
/// `Lost` should the work panic (dropped unfinished), and rings the
/// waiting worker's doorbell either way.
struct Finisher<T> {
    done: Option<Arc<Done<T>>>,
    /// The waiting worker, when its doorbell is installed.
    worker: Option<usize>,
}

impl<T> Finisher<T> {
    fn finish(mut self, made: T) {
        if let Some(done) = self.done.take() {
            *done.lock() = Outcome::Made(made);
            self.ring();
        }
    }

    fn ring(&self) {
        if let Some(worker) = self.worker {
            doorbell::ring(worker, Bell::Files);
        }
    }
}

impl<T> Drop for Finisher<T> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            *done.lock() = Outcome::Lost;
            self.ring();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slowly_made() -> u32 {
        std::thread::sleep(Duration::from_millis(50));
        42
    }

    #[test]
    fn a_finished_task_wakes_its_worker_through_the_doorbell() {
        // Worker ids far above any other test's.
        doorbell::on_test_worker(Some(9001), async || {
            assert_eq!(doorbell::me(), Some(9001));
            let made = on_file_thread(None, || slowly_made).await;
            assert_eq!(made, Ok(42));
        });
    }

    #[test]
    fn a_thread_without_a_doorbell_still_gets_the_answer() {
        doorbell::on_test_worker(None, async || {
            let made = on_file_thread(None, || slowly_made).await;
            assert_eq!(made, Ok(42));
        });
    }

    #[test]
    fn a_task_that_panics_is_answered_lost_not_waited_for() {
        doorbell::on_test_worker(Some(9002), async || {
            let made: Result<u32, Deny> =
                on_file_thread(None, || || panic!("a task that panics (on purpose)")).await;
            assert_eq!(made, Err(Deny::Lost));
        });
    }
}
