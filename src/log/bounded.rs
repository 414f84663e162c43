//! Log lines written from the threads that are not workers (the main
//! thread's reload, stop and start lines, the admin thread's), without
//! waiting on a reader that stopped reading.
//!
//! When stderr, or the error log file, is a pipe or a socket (journald's
//! stream, `| logger`, a FIFO) and its reader hangs, a plain `write` waits
//! until it reads again: the main thread stopped at its next line, and with
//! it every reload and the stop (SIGTERM answered by nothing until the
//! service manager's kill). Here a line waits at most `LINE_WAIT` for room,
//! then is dropped and counted in `tern_log_dropped_lines_total`; once one
//! was, the next ones are tried without waiting until one gets through. The
//! workers queue their lines instead (`writer`). A terminal or a file is
//! written as before.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The longest a line waits for a reader that takes nothing.
const LINE_WAIT: Duration = Duration::from_secs(1);

/// Where lines go, and whether the last one got there.
pub struct Bounded {
    out: Out,
    /// The last line did not get through: the next ones don't wait.
    stalled: AtomicBool,
}

enum Out {
    /// A terminal or a file: a write that waits is the file system's.
    InPlace(File),
    /// A pipe, through a description of its own opened non-blocking (the
    /// one tern was given is shared with whoever started it, and the
    /// workers' ring writes need it blocking: its flags are left alone).
    Pipe(File),
    /// A socket: each send says not to wait (`MSG_DONTWAIT`).
    Socket(File),
}

impl Bounded {
    /// For lines to `file`, through a descriptor of its own.
    pub fn new(file: impl AsFd) -> std::io::Result<Bounded> {
        let fd = file.as_fd();
        let out = match super::stream_kind(fd.as_raw_fd()) {
            Some(libc::S_IFSOCK) => Out::Socket(File::from(fd.try_clone_to_owned()?)),
            Some(libc::S_IFIFO) => match reopen_nonblocking(fd.as_raw_fd()) {
                Ok(pipe) => Out::Pipe(pipe),
                Err(_) => Out::InPlace(File::from(fd.try_clone_to_owned()?)),
            },
            _ => Out::InPlace(File::from(fd.try_clone_to_owned()?)),
        };
        Ok(Bounded {
            out,
            stalled: AtomicBool::new(false),
        })
    }

    /// Takes on whether `other`, for the same file, is stalled.
    pub fn carry_stall(&self, other: &Bounded) {
        let stalled = other.stalled.load(Ordering::Relaxed);
        self.stalled.store(stalled, Ordering::Relaxed);
    }

    /// Writes `line` (whole, newline included), waiting at most
    /// `LINE_WAIT` for a reader that takes nothing.
    pub fn write_line(&self, line: &str) {
        let wrote = match &self.out {
            Out::InPlace(file) => (&*file).write_all(line.as_bytes()).is_ok(),
            out => {
                let wait = match self.stalled.load(Ordering::Relaxed) {
                    true => Duration::ZERO,
                    false => LINE_WAIT,
                };
                write_bounded(out, line.as_bytes(), wait)
            }
        };
        self.stalled.store(!wrote, Ordering::Relaxed);
        if !wrote {
            super::writer::count_dropped(line.as_bytes());
        }
    }
}

/// Standard error's, made at its first line.
pub fn stderr() -> Option<&'static Bounded> {
    static STDERR: OnceLock<Option<Bounded>> = OnceLock::new();
    STDERR
        .get_or_init(|| Bounded::new(std::io::stderr()).ok())
        .as_ref()
}

/// Opening the descriptor's /proc link makes a new description of the
/// same pipe, whose O_NONBLOCK is tern's alone.
fn reopen_nonblocking(fd: RawFd) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(format!("/proc/self/fd/{fd}"))
}

/// Writes all of `bytes` unless the reader leaves no room for `wait`.
fn write_bounded(out: &Out, mut bytes: &[u8], wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    while !bytes.is_empty() {
        match try_write(out, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                wait_writable(out, left);
            }
            Err(_) => return false,
        }
    }
    true
}

fn try_write(out: &Out, bytes: &[u8]) -> std::io::Result<usize> {
    match out {
        Out::InPlace(file) | Out::Pipe(file) => (&*file).write(bytes),
        Out::Socket(socket) => {
            let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
            // SAFETY: send(2) reads `bytes.len()` bytes from a live slice on
            // a descriptor `socket` keeps open.
            let sent = unsafe {
                libc::send(
                    socket.as_raw_fd(),
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    flags,
                )
            };
            match sent {
                n if n >= 0 => Ok(n as usize),
                _ => Err(std::io::Error::last_os_error()),
            }
        }
    }
}

/// Waits until `out` has room, for at most `limit`.
fn wait_writable(out: &Out, limit: Duration) {
    let (Out::InPlace(file) | Out::Pipe(file) | Out::Socket(file)) = out;
    let mut poll = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = limit.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: one pollfd, valid for the call.
    unsafe { libc::poll(&mut poll, 1, ms) };
}
