//! A panic while serving one connection is contained at that connection's
//! task: the task ends (its connection closes), the panic is logged with
//! the connection's client and request line and counted in /metrics, and
//! the worker keeps serving. Without this a panic unwinds through the
//! worker's runtime and ends the thread, while its SO_REUSEPORT sockets
//! keep receiving connections that nobody accepts.
//!
//! The request line: the connection task calls `note_request` once per
//! request head (a copy of at most `NOTE_BYTES` into the task's own note,
//! found through a thread-local pointer that `Contained::poll` sets around
//! each poll). The panic message: a panic hook keeps it for the task while a
//! contained task is polled, and leaves every other panic to the default
//! hook.
//!
//! Testing (debug builds only, compiled out of release builds): with
//! `TERN_DEBUG_PANIC=TEXT` in the environment (read once), a request whose
//! request line contains TEXT panics in its connection task; with
//! `TERN_DEBUG_WORKER_PANIC=TEXT`, such a request makes its worker's main
//! loop panic instead (outside any connection: the worker thread dies).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

/// Enough of a request line to recognise it in the log.
const NOTE_BYTES: usize = 96;

/// The last request line of one connection.
struct Note {
    line: [u8; NOTE_BYTES],
    len: u8,
}

thread_local! {
    /// The note of the connection task being polled, or null.
    static CURRENT: Cell<*mut Note> = const { Cell::new(ptr::null_mut()) };
    /// The message of a panic in a contained task, for its log line.
    static MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Set when a debug-build test asked this worker's main loop to panic.
    static WORKER_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Runs `serve` as one connection's task, containing its panics.
pub fn contained<F: Future<Output = ()>>(
    peer: SocketAddr,
    worker: usize,
    serve: F,
) -> Contained<F> {
    Contained {
        serve: Some(serve),
        note: Note {
            line: [0; NOTE_BYTES],
            len: 0,
        },
        peer,
        worker,
    }
}

pub struct Contained<F> {
    serve: Option<F>,
    note: Note,
    peer: SocketAddr,
    worker: usize,
}

impl<F: Future<Output = ()>> Future for Contained<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `serve` is never moved out while pinned (it is only
        // dropped in place, by `set(None)`), and the other fields are not
        // structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let Some(serve) = this.serve.as_mut() else {
            return Poll::Ready(());
        };
        // SAFETY: as above, `serve` stays where it is until dropped.
        let serve = unsafe { Pin::new_unchecked(serve) };
        let previous = CURRENT.with(|c| c.replace(&mut this.note));
        let polled = catch_unwind(AssertUnwindSafe(|| serve.poll(cx)));
        CURRENT.with(|c| c.set(previous));
        match polled {
            Ok(poll) => poll,
            Err(_) => {
                // The task's state is whatever the panic left: drop it (its
                // connection closes, its guards release their counts), also
                // if dropping panics again.
                let _ = catch_unwind(AssertUnwindSafe(|| this.serve = None));
                this.report();
                Poll::Ready(())
            }
        }
    }
}

impl<F> Contained<F> {
    fn report(&self) {
        crate::edge_counts::panicked();
        let message = MESSAGE
            .with(|m| m.borrow_mut().take())
            .unwrap_or_else(|| "(no message)".into());
        let line = &self.note.line[..usize::from(self.note.len)];
        let request = if line.is_empty() {
            "before a request line".to_owned()
        } else {
            format!("on {:?}", String::from_utf8_lossy(line))
        };
        crate::log::error(format_args!(
            "worker {}: a panic while serving {} {request} closed that connection; the worker goes on: {message}",
            self.worker, self.peer
        ));
    }
}

/// Keeps the request line of the connection being served, for the log line
/// of a panic (one short copy per request head).
pub fn note_request(head: &[u8]) {
    let end = head
        .iter()
        .take(NOTE_BYTES)
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(head.len().min(NOTE_BYTES));
    let line = &head[..end];
    CURRENT.with(|c| {
        // SAFETY: non-null only while `Contained::poll` polls the task that
        // owns the note, on this thread, and the note lives in that task.
        if let Some(note) = unsafe { c.get().as_mut() } {
            note.line[..line.len()].copy_from_slice(line);
            note.len = line.len() as u8;
        }
    });
    #[cfg(debug_assertions)]
    debug_injection::on_request(line);
}

/// Installs the hook that keeps the message of a contained panic instead of
/// printing it; other panics go to the default hook. Call once, at start.
pub fn install_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let contained = CURRENT.with(|c| !c.get().is_null());
        if !contained {
            return default(info);
        }
        let payload = info.payload();
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        MESSAGE.with(|m| *m.borrow_mut() = Some(format!("{text}{at}")));
    }));
}

/// The worker's main loop asks this each tick (debug-build tests only).
pub fn worker_panic_requested() -> bool {
    WORKER_PANIC.with(Cell::get)
}

#[cfg(debug_assertions)]
mod debug_injection {
    use std::sync::OnceLock;

    fn read(name: &str) -> Option<Vec<u8>> {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(String::into_bytes)
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    /// Panics (or asks the worker loop to) for a request line naming the
    /// text of `TERN_DEBUG_PANIC` (`TERN_DEBUG_WORKER_PANIC`).
    pub fn on_request(line: &[u8]) {
        /// The texts of `TERN_DEBUG_PANIC` and `TERN_DEBUG_WORKER_PANIC`.
        type Texts = (Option<Vec<u8>>, Option<Vec<u8>>);
        static TEXTS: OnceLock<Texts> = OnceLock::new();
        let (task, worker) =
            TEXTS.get_or_init(|| (read("TERN_DEBUG_PANIC"), read("TERN_DEBUG_WORKER_PANIC")));
        if worker.as_ref().is_some_and(|t| contains(line, t)) {
            super::WORKER_PANIC.with(|p| p.set(true));
        }
        if task.as_ref().is_some_and(|t| contains(line, t)) {
            panic!("injected by TERN_DEBUG_PANIC (debug build)");
        }
    }
}
