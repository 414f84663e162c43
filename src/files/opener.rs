//! Opening on the file threads the files whose lookup needs the disk, so
//! no worker waits for it.
//!
//! The ring can't do it for us: `openat2` with `RESOLVE_BENEATH` is an
//! io_uring operation monoio 0.2.4 doesn't submit. So each open (and each
//! directory listing of such a root, `list`) is a task for the file threads
//! (`pool.rs`), carrying its own eventfd: the thread stores what it made
//! and writes the eventfd; the worker waits for it through the ring like
//! any read. A waiting task holds two descriptors (the eventfd and its
//! duplicate).
//!
//! A request the queue can't take waits for room, asking again after
//! pauses that double up to `MAX_PAUSE` and holding no eventfd: a burst
//! of names after a cold start drains in milliseconds on a working disk.
//! Past `QUEUE_WAIT` it is answered 503: a filesystem that hangs must not
//! take the workers, and the proxied traffic with them (nginx answers 500
//! at once when its thread pool's queue overflows). A task that can't get
//! an eventfd, or a thread to run it, runs in place: the worker
//! waits, as it did before, but the request is answered.
//! Counted in `tern_static_slow_opens_total`.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::deny::Deny;
use super::open::{c_path, open_waiting, OpenFile};
use super::pool::{self, Refused};
use super::site::StaticSite;

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
    on_file_thread(|| {
        let (root, rel) = (Arc::clone(&root), Arc::clone(&c_rel));
        move || open_waiting(root.as_fd(), &rel)
    })
    .await?
}

/// Renders the listing of the open directory `dir` on a file thread.
pub async fn list(dir: Arc<File>, shown_path: &[u8]) -> Result<Vec<u8>, Deny> {
    let shown_path: Arc<[u8]> = Arc::from(shown_path);
    on_file_thread(|| {
        let (dir, shown_path) = (Arc::clone(&dir), Arc::clone(&shown_path));
        move || {
            super::listing::render(&dir, &shown_path)
                .map_err(|_| Deny::Forbidden("directory can't be read"))
        }
    })
    .await?
}

/// Runs what `make_work` makes on a file thread, waiting for it through the
/// ring; in place without an eventfd or a thread; `Deny::Busy` after
/// `QUEUE_WAIT` of a full queue (each try makes its work and eventfd anew:
/// a refused try's eventfd is closed while the request waits for room).
async fn on_file_thread<T, W>(make_work: impl Fn() -> W) -> Result<T, Deny>
where
    T: Send + 'static,
    W: FnOnce() -> T + Send + 'static,
{
    let deadline = Instant::now() + QUEUE_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        let work = make_work();
        let Some(done) = Done::new() else {
            return Ok(work());
        };
        let done = Arc::new(done);
        let finished = Arc::clone(&done);
        match pool::submit(Box::new(move || finished.finish(work()))) {
            Ok(()) => {
                SLOW_OPENS.fetch_add(1, Relaxed);
                BEHIND.store(false, Relaxed);
                return done.wait().await.ok_or(Deny::NotFound);
            }
            Err(Refused::NoThread(task)) => {
                task();
                return done.take().ok_or(Deny::NotFound);
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

/// Where a file thread leaves what its work made, and the eventfd it
/// writes then.
struct Done<T> {
    made: Mutex<Option<T>>,
    event: OwnedFd,
}

impl<T> Done<T> {
    /// `None` without an eventfd (out of descriptors).
    fn new() -> Option<Done<T>> {
        // SAFETY: eventfd takes no pointers; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: the kernel just returned this descriptor; nothing else owns it.
        let event = unsafe { OwnedFd::from_raw_fd(fd) };
        Some(Done {
            made: Mutex::new(None),
            event,
        })
    }

    /// On the file thread: keeps what the work made and says so.
    fn finish(&self, made: T) {
        *self.made.lock().unwrap_or_else(PoisonError::into_inner) = Some(made);
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live array to this job's own eventfd.
        let _ = unsafe { libc::write(self.event.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    /// Waits for the work through the ring (on a duplicate of the eventfd:
    /// monoio's file owns and closes its own), or in place if that fails.
    async fn wait(&self) -> Option<T> {
        let ring_event = self
            .event
            .try_clone()
            .map(File::from)
            .and_then(monoio::fs::File::from_std);
        if let Ok(ring_event) = ring_event {
            let (_read, _) = ring_event.read_at(Vec::with_capacity(8), 0).await;
        }
        if let Some(made) = self.take() {
            return Some(made);
        }
        // The ring's read failed: wait here.
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live array from this job's
        // own eventfd (blocking: it was made without EFD_NONBLOCK).
        let _ = unsafe { libc::read(self.event.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        self.take()
    }

    fn take(&self) -> Option<T> {
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}
