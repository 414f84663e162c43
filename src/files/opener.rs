//! Opening on the file threads the files whose lookup needs the disk, so
//! no worker waits for it.
//!
//! The ring can't do it for us: `openat2` with `RESOLVE_BENEATH` is an
//! io_uring operation monoio 0.2.4 doesn't submit. So each open (and each
//! directory listing of such a root, `list`) is a task for the file threads
//! (`pool.rs`), carrying its own socket pair: the thread stores what it
//! made and sends a byte; the worker waits to read it like any client's
//! bytes (io_uring, or epoll's readiness). A waiting task holds two
//! descriptors (the pair).
//!
//! A request the queue can't take waits for room, asking again after
//! pauses that double up to `MAX_PAUSE` and holding no socket: a burst
//! of names after a cold start drains in milliseconds on a working disk.
//! Past `QUEUE_WAIT` it is answered 503: a filesystem that hangs must not
//! take the workers, and the proxied traffic with them (nginx answers 500
//! at once when its thread pool's queue overflows). A task that can't get
//! a socket pair, or a thread to run it, runs in place: the worker
//! waits, as it did before, but the request is answered.
//! Counted in `tern_static_slow_opens_total`.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use monoio::io::AsyncReadRent;

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
/// waiting for it through the worker's driver; in place without a socket pair or a thread;
/// `Deny::Busy` after `QUEUE_WAIT` of a full queue (each try makes its work
/// and pair anew: a refused try's pair is closed while the request waits
/// for room).
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
        let work = make_work();
        let Some((done, hear)) = Done::new() else {
            return Ok(work());
        };
        let done = Arc::new(done);
        let finished = Arc::clone(&done);
        match pool::submit(Box::new(move || finished.finish(work()))) {
            Ok(()) => {
                if let Some(counter) = counted {
                    counter.fetch_add(1, Relaxed);
                }
                // Read first: a store on every miss would bounce the line
                // between the workers.
                if BEHIND.load(Relaxed) {
                    BEHIND.store(false, Relaxed);
                }
                return done.wait(hear).await.ok_or(Deny::NotFound);
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

/// Where a file thread leaves what its work made, and the socket it says
/// so on: one byte to the worker's end of a pair, which the worker waits to
/// read through its driver — io_uring, or epoll's readiness (an eventfd read
/// through monoio's file ops would block the epoll driver).
struct Done<T> {
    made: Mutex<Option<T>>,
    tell: UnixStream,
}

impl<T> Done<T> {
    /// The place and the worker's end; `None` without descriptors for it.
    fn new() -> Option<(Done<T>, UnixStream)> {
        let (tell, hear) = UnixStream::pair().ok()?;
        let done = Done {
            made: Mutex::new(None),
            tell,
        };
        Some((done, hear))
    }

    /// On the file thread: keeps what the work made and says so.
    fn finish(&self, made: T) {
        *self.made.lock().unwrap_or_else(PoisonError::into_inner) = Some(made);
        let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
        // SAFETY: sends 1 byte from a live array on this job's own socket
        // (the worker may have gone: NOSIGNAL; its buffer is empty: DONTWAIT
        // never refuses one byte).
        let _ = unsafe { libc::send(self.tell.as_raw_fd(), [1u8].as_ptr().cast(), 1, flags) };
    }

    /// Waits for the work on `hear`; should the driver refuse the socket,
    /// by looking again every millisecond.
    async fn wait(&self, hear: UnixStream) -> Option<T> {
        if let Ok(mut hear) = monoio::net::UnixStream::from_std(hear) {
            let (_read, _) = hear.read(Vec::with_capacity(1)).await;
        }
        loop {
            if let Some(made) = self.take() {
                return Some(made);
            }
            monoio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn take(&self) -> Option<T> {
        self.made
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}
