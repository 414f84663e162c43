//! Writing access log buffers without stalling the worker.
//!
//! A `write(2)` to a log file can block for as long as the file system
//! wants: a journal commit, writeback of the page being appended to, a disk
//! that stopped answering. Written from the worker thread, that stopped
//! every connection of the worker with it (a log on a FIFO nobody read:
//! no request answered, no graceful stop). Each worker now queues its full
//! buffers here and one task of the worker writes them in order through
//! io_uring (the kernel finishes a write that would block in its own
//! worker threads), so a slow log costs memory, up to `MAX_QUEUED`, then
//! lines, never the worker's time. Lines dropped past the bound, and those
//! of a write that failed (a full disk), are counted in
//! `tern_access_log_dropped_lines_total`; each stall or run of failures is
//! said once in the error log.
//!
//! On the epoll driver (`TERN_DRIVER=epoll`) monoio performs file writes
//! in place, blocking as before: there a slow file still stalls the worker.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Bytes a worker may hold waiting for its log writes; past it, new lines
/// are dropped (and counted) until the queue drains.
const MAX_QUEUED: usize = 16 << 20;

/// An open access log file: written by the worker's writer task through
/// the ring, or in place when that task is not running.
pub struct LogFile {
    plain: std::fs::File,
    /// A second descriptor for the ring's writes, made by the writer task
    /// at its first write (a monoio file can only be made on its runtime).
    ring: OnceCell<monoio::fs::File>,
    /// Written with plain blocking writes (the ring's write was refused).
    in_place: Cell<bool>,
}

impl LogFile {
    pub fn new(plain: std::fs::File) -> LogFile {
        LogFile {
            plain,
            ring: OnceCell::new(),
            in_place: Cell::new(false),
        }
    }

    /// Writes `buf` through the ring, or in place where the ring can't.
    async fn write(&self, buf: Vec<u8>) {
        let ring = match self.ring() {
            Ok(ring) if !self.in_place.get() => ring,
            _ => return write_now(&self.plain, &buf),
        };
        // Offset 0: the file is opened to append, where the kernel writes
        // whatever the offset.
        match ring.write_all_at(buf, 0).await {
            // The epoll driver writes files with pwrite(2), which a FIFO
            // refuses: write(2) there, as that driver blocks anyway.
            (Err(err), buf) if err.raw_os_error() == Some(libc::ESPIPE) => {
                self.in_place.set(true);
                write_now(&self.plain, &buf);
            }
            (written, buf) => report(written, &buf),
        }
    }

    fn ring(&self) -> std::io::Result<&monoio::fs::File> {
        if let Some(ring) = self.ring.get() {
            return Ok(ring);
        }
        let ring = monoio::fs::File::from_std(self.plain.try_clone()?)?;
        Ok(self.ring.get_or_init(|| ring))
    }
}

/// Lines not written, in all workers: a worker's queue was full, or the
/// write failed.
static DROPPED_LINES: AtomicU64 = AtomicU64::new(0);

fn count_dropped(buf: &[u8]) {
    let lines = memchr::memchr_iter(b'\n', buf).count() as u64;
    DROPPED_LINES.fetch_add(lines, Ordering::Relaxed);
}

pub fn dropped_lines() -> u64 {
    DROPPED_LINES.load(Ordering::Relaxed)
}

thread_local! {
    static QUEUE: Queue = const { Queue::new() };
}

struct Queue {
    pending: RefCell<VecDeque<(Rc<LogFile>, Vec<u8>)>>,
    /// Memory held by the buffers in `pending` and the one being written
    /// (their capacity).
    bytes: Cell<usize>,
    /// The writer task, waiting for a buffer.
    waiting: Cell<Option<Waker>>,
    /// The writer task runs (the worker's runtime is up).
    running: Cell<bool>,
    /// Whether the queue was full at the last buffer: a stall is reported
    /// once, when it starts.
    full: Cell<bool>,
}

impl Queue {
    const fn new() -> Queue {
        Queue {
            pending: RefCell::new(VecDeque::new()),
            bytes: Cell::new(0),
            waiting: Cell::new(None),
            running: Cell::new(false),
            full: Cell::new(false),
        }
    }

    /// Queues `buf` unless its memory would take the queue past `limit`;
    /// returns whether it did.
    fn admit(&self, file: &Rc<LogFile>, buf: Vec<u8>, limit: usize) -> bool {
        let bytes = self.bytes.get() + buf.capacity();
        if bytes > limit {
            count_dropped(&buf);
            if !self.full.replace(true) {
                crate::log::error(format_args!(
                    "access log: {} MiB of lines wait for the file to take them; dropping new lines until it does (tern_access_log_dropped_lines_total)",
                    limit >> 20
                ));
            }
            return false;
        }
        self.full.set(false);
        self.bytes.set(bytes);
        self.pending.borrow_mut().push_back((file.clone(), buf));
        if let Some(waker) = self.waiting.take() {
            waker.wake();
        }
        true
    }

    fn idle(&self) -> bool {
        self.bytes.get() == 0
    }
}

/// Writes `buf` (whole lines) to `file` after what this worker queued
/// before it, without waiting for the file.
pub fn write(file: &Rc<LogFile>, buf: Vec<u8>) {
    QUEUE.with(|queue| {
        if queue.running.get() {
            queue.admit(file, buf, MAX_QUEUED);
            return;
        }
        // No writer task (the worker's runtime is not up yet, or gone):
        // blocking writes, what is still queued first.
        let pending = std::mem::take(&mut *queue.pending.borrow_mut());
        for (earlier, lines) in pending {
            write_now(&earlier.plain, &lines);
        }
        queue.bytes.set(0);
        write_now(&file.plain, &buf);
    });
}

fn write_now(mut file: &std::fs::File, buf: &[u8]) {
    report(file.write_all(buf), buf);
}

/// Whether the last access log write failed (in any worker).
static FAILING: AtomicBool = AtomicBool::new(false);

/// Counts the lines of a failed write as dropped, and says when writes
/// start failing (a full disk would otherwise fill the error log with a
/// line per flush, 20 a second per worker) and when they work again.
fn report(written: std::io::Result<()>, buf: &[u8]) {
    match written {
        Ok(()) => {
            if FAILING.swap(false, Ordering::Relaxed) {
                crate::log::warn(format_args!("access log writes work again"));
            }
        }
        Err(err) => {
            count_dropped(buf);
            if !FAILING.swap(true, Ordering::Relaxed) {
                crate::log::warn(format_args!(
                    "access log write failed: {err} (said once until a write works again)"
                ));
            }
        }
    }
}

/// The worker's writer task: writes queued buffers one after another, for
/// the life of the worker.
pub async fn run() {
    let _running = Running::start();
    loop {
        let (file, buf) = next().await;
        let size = buf.capacity();
        file.write(buf).await;
        QUEUE.with(|queue| queue.bytes.set(queue.bytes.get() - size));
    }
}

/// The next queued buffer, once there is one.
async fn next() -> (Rc<LogFile>, Vec<u8>) {
    poll_fn(|cx| {
        QUEUE.with(|queue| match queue.pending.borrow_mut().pop_front() {
            Some(item) => Poll::Ready(item),
            None => {
                queue.waiting.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
    })
    .await
}

/// Marks the writer task running while it lives (a runtime dropped with
/// the task in it drops the task too).
struct Running;

impl Running {
    fn start() -> Running {
        QUEUE.with(|queue| queue.running.set(true));
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = QUEUE.try_with(|queue| {
            queue.running.set(false);
            queue.waiting.set(None);
        });
    }
}

/// Waits until this worker's queued lines are written, for at most
/// `limit` (a file that takes nothing must not hold the worker's exit
/// forever); returns whether they were.
pub async fn written(limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if QUEUE.with(Queue::idle) {
            return true;
        }
        if Instant::now() >= deadline {
            let lines: usize = QUEUE.with(|queue| {
                let pending = queue.pending.borrow();
                pending
                    .iter()
                    .map(|(_, buf)| memchr::memchr_iter(b'\n', buf).count())
                    .sum()
            });
            crate::log::error(format_args!(
                "access log: {lines} lines not written (and the one write in flight): the file took nothing for {} s",
                limit.as_secs()
            ));
            return false;
        }
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_file() -> Rc<LogFile> {
        let plain = std::fs::File::open("/dev/null").expect("/dev/null");
        Rc::new(LogFile::new(plain))
    }

    #[test]
    fn a_full_queue_drops_and_counts_new_lines_and_takes_them_again_once_it_drains() {
        let queue = Queue::new();
        let file = log_file();
        assert!(queue.admit(&file, b"one\ntwo\n".to_vec(), 10));
        let before = dropped_lines();
        assert!(!queue.admit(&file, b"three\n".to_vec(), 10));
        assert_eq!(dropped_lines() - before, 1);
        assert!(queue.full.get());
        // The writer took the first buffer and wrote it.
        let (_, buf) = queue.pending.borrow_mut().pop_front().expect("queued");
        queue.bytes.set(queue.bytes.get() - buf.capacity());
        assert!(queue.admit(&file, b"four\n".to_vec(), 10));
        assert!(!queue.full.get(), "a new stall would be reported again");
        let order: Vec<Vec<u8>> = queue
            .pending
            .borrow()
            .iter()
            .map(|(_, b)| b.clone())
            .collect();
        assert_eq!(order, [b"four\n".to_vec()]);
    }
}
