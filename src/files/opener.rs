//! Opener threads: open the files whose lookup needs the disk, so no worker
//! waits for it.
//!
//! The ring can't do it for us: `openat2` with `RESOLVE_BENEATH` is an
//! io_uring operation monoio 0.2.4 doesn't submit. So each open is a task
//! for the file threads (`pool.rs`), carrying its own eventfd: the thread
//! stores what it found and writes the eventfd; the worker waits for it
//! through the ring like any read. A waiting task holds two descriptors
//! (the eventfd and its duplicate).
//!
//! A request the queue can't take waits for room, asking again after
//! pauses that double up to `MAX_PAUSE` and holding no descriptor: a burst
//! of names after a cold start drains in milliseconds on a working disk.
//! Past `QUEUE_WAIT` it is answered 503: a filesystem that hangs must not
//! take the workers, and the proxied traffic with them (nginx answers 500
//! at once when its thread pool's queue overflows). A job that can't get
//! an eventfd, or a thread to run it, is opened in place: the worker
//! waits, as it did before, but the request is answered.
//! Counted in `tern_static_slow_opens_total`.

use std::ffi::CString;
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

/// Files opened off the worker, since start.
static SLOW_OPENS: AtomicU64 = AtomicU64::new(0);
/// Set from a request the full queue refused until one is queued again:
/// the warning is logged once per episode.
static BEHIND: AtomicBool = AtomicBool::new(false);

/// Files whose lookup needed the disk, opened on a file thread.
pub fn slow_opens() -> u64 {
    SLOW_OPENS.load(Relaxed)
}

/// Opens `rel` beneath the site's root on a file thread, waiting for it
/// through the ring.
pub async fn open(site: &StaticSite, rel: &[u8]) -> Result<OpenFile, Deny> {
    let c_rel = c_path(rel).map_err(|_| Deny::Forbidden("NUL"))?;
    let deadline = Instant::now() + QUEUE_WAIT;
    let mut pause = Duration::from_millis(1);
    loop {
        let root = site.root.held_fd();
        let job = match Job::new(root, c_rel.clone()) {
            Ok(job) => job,
            Err((root, rel)) => return open_waiting(root.as_fd(), &rel),
        };
        let done = Arc::clone(&job.done);
        match pool::submit(Box::new(move || job.run())) {
            Ok(()) => {
                SLOW_OPENS.fetch_add(1, Relaxed);
                BEHIND.store(false, Relaxed);
                return done.wait().await;
            }
            Err(Refused::NoThread(task)) => {
                task();
                return done.take_ready();
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

/// One file to open, and where to say what was found.
struct Job {
    root: Arc<OwnedFd>,
    rel: CString,
    done: Arc<Done>,
}

struct Done {
    found: Mutex<Option<Result<OpenFile, Deny>>>,
    /// Written once `found` is set.
    event: OwnedFd,
}

impl Job {
    /// Without an eventfd (out of descriptors) the parts come back.
    fn new(root: Arc<OwnedFd>, rel: CString) -> Result<Job, (Arc<OwnedFd>, CString)> {
        // SAFETY: eventfd takes no pointers; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err((root, rel));
        }
        // SAFETY: the kernel just returned this descriptor; nothing else owns it.
        let event = unsafe { OwnedFd::from_raw_fd(fd) };
        let done = Arc::new(Done {
            found: Mutex::new(None),
            event,
        });
        Ok(Job { root, rel, done })
    }

    fn run(self) {
        let found = open_waiting(self.root.as_fd(), &self.rel);
        let mut slot = self
            .done
            .found
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *slot = Some(found);
        drop(slot);
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live array to the job's own eventfd.
        let _ = unsafe { libc::write(self.done.event.as_raw_fd(), one.as_ptr().cast(), 8) };
    }
}

impl Done {
    /// Waits for the job through the ring (on a duplicate of the eventfd:
    /// monoio's file owns and closes its own), or in place if that fails.
    async fn wait(&self) -> Result<OpenFile, Deny> {
        let ring_event = self
            .event
            .try_clone()
            .map(File::from)
            .and_then(monoio::fs::File::from_std);
        if let Ok(ring_event) = ring_event {
            let (_read, _) = ring_event.read_at(Vec::with_capacity(8), 0).await;
        }
        if let Some(found) = self.take() {
            return found;
        }
        // The ring's read failed: wait here.
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live array from the job's
        // own eventfd (blocking: it was made without EFD_NONBLOCK).
        let _ = unsafe { libc::read(self.event.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        self.take_ready()
    }

    fn take(&self) -> Option<Result<OpenFile, Deny>> {
        self.found
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// After the job ran: what it found.
    fn take_ready(&self) -> Result<OpenFile, Deny> {
        self.take().unwrap_or(Err(Deny::NotFound))
    }
}
