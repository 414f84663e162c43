//! The access log: one line per request, buffered per worker and written
//! without a lock on the request path.
//!
//! Each worker appends lines to its own buffer and writes the buffer with a
//! single `write` to a file opened with O_APPEND when it passes `FLUSH_AT`
//! or at the worker's next tick (every 50 ms): lines from different workers
//! never interleave mid-line, and a crash loses at most what is buffered.
//! The writes to a file are queued and go through the ring from a task
//! (`log::writer`): a file that is slow to take them never stops the worker;
//! so are those to standard output when it is a pipe or a socket (journald)
//! or a file opened to append.
//! SIGUSR1 makes every worker reopen the file (log rotation).

mod entry;
mod format;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;
use std::sync::Arc;

pub use entry::Entry;

use crate::config::log_section::{AccessFormat, AccessTarget};
use crate::config::Plan;
use crate::log::writer::{self, LogFile};

/// A worker writes its buffer once it holds this much.
const FLUSH_AT: usize = 32 * 1024;

/// How one request ended, for its log line.
pub struct Done {
    pub status: u16,
    /// Bytes written to the client: head and body.
    pub bytes: u64,
    /// Indexes into the plan; `None` where there was none.
    pub route: Option<usize>,
    pub backend: Option<usize>,
    pub server: Option<usize>,
    pub upstream_us: Option<u64>,
    pub total_us: u64,
}

pub struct AccessLog {
    plan: Arc<Plan>,
    out: RefCell<Option<Rc<LogFile>>>,
    buf: RefCell<Vec<u8>>,
    /// The reopen generation this worker's file belongs to.
    generation: Cell<u64>,
}

impl AccessLog {
    pub fn new(plan: Arc<Plan>) -> Self {
        let log = AccessLog {
            out: RefCell::new(None),
            buf: RefCell::new(Vec::new()),
            generation: Cell::new(crate::log::reopen_generation()),
            plan,
        };
        log.open();
        log
    }

    pub fn enabled(&self) -> bool {
        self.plan.log.access != AccessTarget::Off
    }

    /// Appends the line for one request.
    pub fn write(&self, entry: &Entry, done: &Done) {
        let mut buf = self.buf.borrow_mut();
        match self.plan.log.format {
            AccessFormat::Combined => format::combined(&mut buf, entry, done, &self.plan),
            AccessFormat::Json => format::json(&mut buf, entry, done, &self.plan),
        }
        if buf.len() >= FLUSH_AT {
            self.flush_buf(&mut buf);
        }
    }

    /// Called by the worker every tick: writes what is buffered, and
    /// reopens the file after SIGUSR1.
    pub fn tick(&self) {
        let generation = crate::log::reopen_generation();
        if generation != self.generation.get() {
            self.flush_buf(&mut self.buf.borrow_mut());
            self.generation.set(generation);
            self.open();
        }
        let mut buf = self.buf.borrow_mut();
        if !buf.is_empty() {
            self.flush_buf(&mut buf);
        }
    }

    /// Opens the log, or reopens it after SIGUSR1. A file that can't be
    /// reopened (its directory moved away, say) leaves the one open before
    /// in use, as nginx does: its lines go on there rather than being lost.
    fn open(&self) {
        let file = match &self.plan.log.access {
            AccessTarget::File(path) => match crate::log::open_append(path) {
                Ok(file) => Some(file),
                Err(err) => {
                    let kept = self.out.borrow().is_some();
                    let still = if kept {
                        "; writing on to the file open before"
                    } else {
                        ""
                    };
                    crate::log::error(format_args!("access log {}: {err}{still}", path.display()));
                    if kept {
                        return;
                    }
                    None
                }
            },
            // A pipe, a socket or a file opened to append: queued as a file.
            AccessTarget::Stdout => crate::log::stream_copy(&std::io::stdout()),
            AccessTarget::Off => None,
        };
        *self.out.borrow_mut() = file.map(|file| Rc::new(LogFile::new(file, "access log")));
    }

    /// Hands whole lines to `log::writer`, which writes them without the
    /// worker waiting; standard output on a terminal or a file opened with
    /// `>` is written in place.
    fn flush_buf(&self, buf: &mut Vec<u8>) {
        match (&self.plan.log.access, self.out.borrow().as_ref()) {
            (_, Some(file)) => {
                // The next buffer sized like this one: a quiet worker's
                // buffers stay small while they wait in the queue.
                let next = Vec::with_capacity(buf.len().clamp(1024, FLUSH_AT + 1024));
                let full = std::mem::replace(buf, next);
                writer::write(file, full);
            }
            (AccessTarget::Stdout, None) => {
                if let Err(err) = std::io::stdout().lock().write_all(buf) {
                    crate::log::warn(format_args!("access log write failed: {err}"));
                }
            }
            // The file could not be opened (said when it failed): its
            // lines are lost, and counted as such.
            (AccessTarget::File(_), None) => crate::log::writer::count_dropped(buf),
            (AccessTarget::Off, None) => {}
        }
        buf.clear();
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.tick();
    }
}
