//! Writing log files without stalling a worker.
//!
//! A `write(2)` to a log file can block for as long as the file system
//! wants: a journal commit, writeback of the page being appended to, a disk
//! that stopped answering. Written from a worker thread, that stopped every
//! connection of the worker with it (an access log on a FIFO nobody read:
//! no request answered, no graceful stop). On a worker, each log file (the
//! access log's, the error log's) has its own queue of whole lines and a
//! task that writes them in order through io_uring (the kernel finishes a
//! write that would block in its own worker threads), so a slow file costs
//! memory, up to `MAX_QUEUED` per file and worker, then lines, never the
//! worker's time, and never holds up another file's lines. Lines dropped
//! past the bound, and those of a write that failed (a full disk), are
//! counted in `tern_log_dropped_lines_total`; each stall or run of failures
//! is said once in the error log.
//!
//! Standard output and error are such files when they are a pipe or a
//! socket (journald's streams) or a file opened to append: a worker queues
//! for a descriptor of its own for them (`super::stream_copy`). A pipe or
//! a socket is written in pieces of whole lines of at most `PIPE_BUF`
//! bytes, the most a pipe takes whole while other workers write to it: a
//! 32 KiB write that had to wait for room was cut by the others' writes,
//! mid-line.
//!
//! Off a worker (the main and admin threads, a worker before its runtime
//! runs or after it stopped) lines are written in place. On the epoll
//! driver (`TERN_DRIVER=epoll`) monoio performs file writes in place too:
//! there a slow file still stalls the worker.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use monoio::buf::IoBuf;

/// Memory a worker may hold in lines waiting for one log file; past it,
/// new lines for that file are dropped (and counted) until it takes some.
const MAX_QUEUED: usize = 16 << 20;

/// Lines not written, in all workers: the queue was full, or the write
/// failed.
static DROPPED_LINES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set while this thread's worker runs (`OnWorker`).
    static RUNNING: Cell<bool> = const { Cell::new(false) };
    /// Memory held by this worker's queued lines, all files (capacity):
    /// what a stopping worker waits to see written.
    static QUEUED: Cell<usize> = const { Cell::new(0) };
    /// The error log file's generation this worker last looked at, and its
    /// queue for it (`None`: written in place, so that a stderr on a
    /// terminal isn't looked at again for every line).
    static ERROR_LOG: RefCell<Option<(u64, Option<Rc<LogFile>>)>> = const { RefCell::new(None) };
}

/// On a worker, queues an error-log line for the error log file; false
/// when it is to be written in place (not a worker, or the log is stderr
/// on a terminal or a file opened with `>`: `super::stream_copy`).
pub(super) fn queue_error_line(line: &str) -> bool {
    if !RUNNING.get() {
        return false;
    }
    let Some(file) = error_log_file() else {
        return false;
    };
    write(&file, line.as_bytes().to_vec());
    true
}

fn error_log_file() -> Option<Rc<LogFile>> {
    ERROR_LOG.with(|slot| {
        if let Some((generation, file)) = slot.borrow().as_ref() {
            if *generation == super::error_file_generation() {
                return file.clone();
            }
        }
        let (generation, plain) = super::error_file_copy();
        let file = plain.map(|plain| Rc::new(LogFile::new(plain, "error log")));
        *slot.borrow_mut() = Some((generation, file.clone()));
        file
    })
}

pub fn dropped_lines() -> u64 {
    DROPPED_LINES.load(Ordering::Relaxed)
}

/// An open log file and, on a worker, its queue of lines to write.
pub struct LogFile {
    plain: std::fs::File,
    /// A second descriptor for the ring's writes, made at the first one (a
    /// monoio file can only be made on its runtime).
    ring: OnceCell<monoio::fs::File>,
    /// Written with plain blocking writes (the ring's write was refused).
    in_place: Cell<bool>,
    pending: RefCell<VecDeque<Vec<u8>>>,
    /// Memory held by `pending` and the buffer being written (capacity).
    queued: Cell<usize>,
    /// A task is writing `pending` out.
    writing: Cell<bool>,
    /// The last buffer found the queue full: a stall is said once.
    full: Cell<bool>,
    /// The last write failed: a run of failures is said once.
    failing: Cell<bool>,
    /// What the file is, for the error log's lines about it.
    name: &'static str,
    /// A pipe or a socket, which other writers share (the other workers,
    /// the main thread): a write there is whole only up to `PIPE_BUF`
    /// bytes, so buffers are written in pieces of whole lines no larger.
    shared_stream: bool,
}

impl LogFile {
    pub fn new(plain: std::fs::File, name: &'static str) -> LogFile {
        LogFile {
            ring: OnceCell::new(),
            in_place: Cell::new(false),
            pending: RefCell::new(VecDeque::new()),
            queued: Cell::new(0),
            writing: Cell::new(false),
            full: Cell::new(false),
            failing: Cell::new(false),
            name,
            shared_stream: super::is_stream(&plain),
            plain,
        }
    }
}

/// Writes `buf` (whole lines) to `file` after what was queued for it
/// before: queued on a worker, without waiting for the file.
pub fn write(file: &Rc<LogFile>, buf: Vec<u8>) {
    if !RUNNING.get() {
        // No runtime to write from: in place, what is still queued first.
        let pending = std::mem::take(&mut *file.pending.borrow_mut());
        for earlier in pending {
            unqueue(file, earlier.capacity());
            write_now(file, &earlier);
        }
        return write_now(file, &buf);
    }
    if !admit(file, buf) || file.writing.replace(true) {
        return;
    }
    monoio::spawn(write_out(file.clone()));
}

/// Queues `buf` for `file` unless the file's queue is full.
fn admit(file: &LogFile, buf: Vec<u8>) -> bool {
    let queued = file.queued.get() + buf.capacity();
    if queued > MAX_QUEUED {
        count_dropped(&buf);
        if !file.full.replace(true) {
            super::error(format_args!(
                "{}: {} MiB of lines wait for the file to take them; dropping new lines until it does (tern_log_dropped_lines_total)",
                file.name,
                MAX_QUEUED >> 20
            ));
        }
        return false;
    }
    file.full.set(false);
    file.queued.set(queued);
    QUEUED.set(QUEUED.get() + buf.capacity());
    file.pending.borrow_mut().push_back(buf);
    true
}

/// A buffer of `file`'s, `size` bytes, is written (or given up on).
fn unqueue(file: &LogFile, size: usize) {
    file.queued.set(file.queued.get().saturating_sub(size));
    QUEUED.set(QUEUED.get().saturating_sub(size));
}

/// Writes `file`'s queue out, in order, until it is empty.
async fn write_out(file: Rc<LogFile>) {
    loop {
        let Some(buf) = file.pending.borrow_mut().pop_front() else {
            file.writing.set(false);
            return;
        };
        let size = buf.capacity();
        write_ring(&file, buf).await;
        unqueue(&file, size);
    }
}

/// Writes `buf` through the ring, or in place where the ring can't.
async fn write_ring(file: &LogFile, mut buf: Vec<u8>) {
    let ring = match ring(file) {
        Ok(ring) if !file.in_place.get() => ring,
        _ => return write_now(file, &buf),
    };
    let mut start = 0;
    while start < buf.len() {
        let end = piece_end(file, &buf, start);
        // Offset 0: a file is opened to append, where the kernel writes
        // whatever the offset; a pipe or a socket has none.
        let (written, slice) = ring.write_all_at(buf.slice(start..end), 0).await;
        buf = slice.into_inner();
        match written {
            // The epoll driver writes files with pwrite(2), which a FIFO
            // refuses: write(2) there, as that driver blocks anyway.
            Err(err) if err.raw_os_error() == Some(libc::ESPIPE) => {
                file.in_place.set(true);
                return write_now(file, &buf[start..]);
            }
            written => report(file, written, &buf[start..end]),
        }
        start = end;
    }
}

/// Where the piece of `buf` written from `start` ends: all of it for a
/// file; for a pipe or a socket, the whole lines that fit in `PIPE_BUF`
/// (a single longer line goes whole all the same).
fn piece_end(file: &LogFile, buf: &[u8], start: usize) -> usize {
    let limit = start + libc::PIPE_BUF;
    if !file.shared_stream || buf.len() <= limit {
        return buf.len();
    }
    match memchr::memrchr(b'\n', &buf[start..limit]) {
        Some(newline) => start + newline + 1,
        None => memchr::memchr(b'\n', &buf[limit..]).map_or(buf.len(), |at| limit + at + 1),
    }
}

fn ring(file: &LogFile) -> std::io::Result<&monoio::fs::File> {
    if let Some(ring) = file.ring.get() {
        return Ok(ring);
    }
    let ring = monoio::fs::File::from_std(file.plain.try_clone()?)?;
    Ok(file.ring.get_or_init(|| ring))
}

fn write_now(file: &LogFile, buf: &[u8]) {
    let mut start = 0;
    while start < buf.len() {
        let end = piece_end(file, buf, start);
        let piece = &buf[start..end];
        report(file, (&file.plain).write_all(piece), piece);
        start = end;
    }
}

/// Counts the lines of a failed write as dropped, and says when writes
/// start failing (a full disk would otherwise fill the error log with a
/// line per flush, 20 a second per worker) and when they work again.
fn report(file: &LogFile, written: std::io::Result<()>, buf: &[u8]) {
    match written {
        Ok(()) => {
            if file.failing.replace(false) {
                super::warn(format_args!("{}: writes work again", file.name));
            }
        }
        Err(err) => {
            count_dropped(buf);
            if !file.failing.replace(true) {
                super::warn(format_args!(
                    "{} write failed: {err} (said once until a write works again)",
                    file.name
                ));
            }
        }
    }
}

/// Counts `buf`'s lines as lost (`tern_log_dropped_lines_total`).
pub fn count_dropped(buf: &[u8]) {
    let lines = memchr::memchr_iter(b'\n', buf).count() as u64;
    DROPPED_LINES.fetch_add(lines, Ordering::Relaxed);
}

/// Held by a worker's main task for its life: while it is, the worker's
/// log lines are queued and written by tasks of its runtime; before and
/// after, in place. (Tied to the worker's own task rather than a task of
/// its own: monoio frees a task that waits with no waker and no handle.)
pub struct OnWorker(());

impl OnWorker {
    pub fn start() -> OnWorker {
        RUNNING.set(true);
        OnWorker(())
    }
}

impl Drop for OnWorker {
    fn drop(&mut self) {
        let _ = RUNNING.try_with(|running| running.set(false));
    }
}

/// Waits until this worker's queued lines are written, for at most
/// `limit` (a file that takes nothing must not hold the worker's exit
/// forever); returns whether they were.
pub async fn written(limit: Duration) -> bool {
    if wait_for(limit, || QUEUED.get() == 0).await {
        return true;
    }
    super::error(format_args!(
        "log lines not written: a log file took nothing for {} s",
        limit.as_secs()
    ));
    // That line is queued too (stderr on a pipe is): out before the worker
    // ends, unless the error log is the file that takes nothing.
    wait_for(SAYING_WAIT, error_log_written).await;
    false
}

/// How long a stopping worker waits for its last error line to be taken.
const SAYING_WAIT: Duration = Duration::from_secs(1);

/// Polls `done` every 10 ms until it holds or `limit` passes.
async fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Nothing waits for this worker's error log file.
fn error_log_written() -> bool {
    ERROR_LOG.with(|slot| {
        slot.borrow()
            .as_ref()
            .and_then(|(_, file)| file.as_ref())
            .is_none_or(|file| file.queued.get() == 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_or_socket_is_written_in_pieces_of_whole_lines_that_fit_pipe_buf() {
        let (ours, _theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let stream = LogFile::new(std::os::fd::OwnedFd::from(ours).into(), "test log");
        let line = |len: usize| [vec![b'x'; len - 1], vec![b'\n']].concat();
        // Three 1,500-byte lines: two fit in PIPE_BUF (4,096), the third
        // starts the next piece.
        let buf = [line(1500), line(1500), line(1500)].concat();
        assert_eq!(piece_end(&stream, &buf, 0), 3000);
        assert_eq!(piece_end(&stream, &buf, 3000), 4500);
        // A line longer than PIPE_BUF goes whole.
        let long = [line(5000), line(10)].concat();
        assert_eq!(piece_end(&stream, &long, 0), 5000);
        // A file takes the buffer in one write.
        let file = LogFile::new(std::fs::File::open("/dev/null").expect("/dev/null"), "file");
        assert_eq!(piece_end(&file, &buf, 0), 4500);
    }

    #[test]
    fn a_full_queue_drops_and_counts_new_lines_and_takes_them_again_once_it_drains() {
        let plain = std::fs::File::open("/dev/null").expect("/dev/null");
        let file = LogFile::new(plain, "test log");
        file.queued.set(MAX_QUEUED - 10);
        assert!(admit(&file, b"one\ntwo\n".to_vec()));
        let before = dropped_lines();
        assert!(!admit(&file, b"three\n".to_vec()));
        assert_eq!(dropped_lines() - before, 1);
        assert!(file.full.get());
        // A writer took the first buffer and wrote it.
        let buf = file.pending.borrow_mut().pop_front().expect("queued");
        unqueue(&file, buf.capacity());
        assert!(admit(&file, b"four\n".to_vec()));
        assert!(!file.full.get(), "a new stall would be said again");
        let order: Vec<Vec<u8>> = file.pending.borrow().iter().cloned().collect();
        assert_eq!(order, [b"four\n".to_vec()]);
    }
}
