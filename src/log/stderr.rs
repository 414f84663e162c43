//! Standard error written from the threads that are not workers (the main
//! thread's reload, stop and start lines, the admin thread's), without
//! waiting on a reader that stopped reading.
//!
//! When stderr is a pipe or a socket (journald's stream, `| logger`) and its
//! reader hangs, a plain `write` waits until it reads again: the main thread
//! stopped at its next line, and with it every reload and the stop (SIGTERM
//! answered by nothing until the service manager's kill). Here a line waits
//! at most `LINE_WAIT` for room, then is dropped and counted in
//! `tern_log_dropped_lines_total`; once one was, the next ones are tried
//! without waiting until one gets through. The workers queue their lines
//! instead (`writer`). A terminal or a file is written as before.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The longest a line waits for a reader that takes nothing.
const LINE_WAIT: Duration = Duration::from_secs(1);

/// How lines reach stderr.
enum Out {
    /// A terminal or a file: a write that waits is the file system's.
    InPlace,
    /// A pipe, through a description of its own opened non-blocking (the
    /// one tern inherited is shared with whoever started it: its flags are
    /// left alone).
    Pipe(File),
    /// A socket: each send says not to wait (`MSG_DONTWAIT`).
    Socket,
}

static OUT: OnceLock<Out> = OnceLock::new();
/// The last line did not get through: the next ones don't wait.
static STALLED: AtomicBool = AtomicBool::new(false);

/// Writes `line` (whole, newline included) to stderr, waiting at most
/// `LINE_WAIT` for a reader that takes nothing.
pub fn write_line(line: &str) {
    let wrote = match OUT.get_or_init(out) {
        Out::InPlace => std::io::stderr().write_all(line.as_bytes()).is_ok(),
        out => {
            let wait = match STALLED.load(Ordering::Relaxed) {
                true => Duration::ZERO,
                false => LINE_WAIT,
            };
            write_bounded(out, line.as_bytes(), wait)
        }
    };
    STALLED.store(!wrote, Ordering::Relaxed);
    if !wrote {
        super::writer::count_dropped(line.as_bytes());
    }
}

fn out() -> Out {
    let stderr = std::io::stderr();
    let fd = stderr.as_fd().as_raw_fd();
    match super::stream_kind(fd) {
        Some(libc::S_IFSOCK) => Out::Socket,
        Some(libc::S_IFIFO) => {
            use std::os::unix::fs::OpenOptionsExt;
            // Opening the descriptor's /proc link makes a new description
            // of the same pipe, whose O_NONBLOCK is tern's alone.
            let reopened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(format!("/proc/self/fd/{fd}"));
            reopened.map_or(Out::InPlace, Out::Pipe)
        }
        _ => Out::InPlace,
    }
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
                wait_writable(raw_fd(out), left);
            }
            Err(_) => return false,
        }
    }
    true
}

fn try_write(out: &Out, bytes: &[u8]) -> std::io::Result<usize> {
    match out {
        Out::Pipe(pipe) => (&*pipe).write(bytes),
        _ => {
            let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
            // SAFETY: send(2) reads `bytes.len()` bytes from a live slice on
            // stderr's descriptor, which stays open for the process's life.
            let sent = unsafe {
                libc::send(
                    libc::STDERR_FILENO,
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

fn raw_fd(out: &Out) -> RawFd {
    match out {
        Out::Pipe(pipe) => pipe.as_raw_fd(),
        _ => libc::STDERR_FILENO,
    }
}

/// Waits until `fd` has room, for at most `limit`.
fn wait_writable(fd: RawFd, limit: Duration) {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = limit.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: one pollfd, valid for the call.
    unsafe { libc::poll(&mut poll, 1, ms) };
}
