//! Sending file bytes without copying them through user space: file → pipe
//! → socket with io_uring `IORING_OP_SPLICE`, one pipe's worth (64 KiB, the
//! default pipe size) at a time. The kernel runs each splice on its own
//! worker threads, so neither a cold disk nor a slow client blocks tern's
//! worker, and memory stays at one pipe per transfer in flight.
//!
//! monoio 0.2.4 splices between its sockets and its `Pipe` only; it has no
//! file type that takes part. A regular file's descriptor is therefore
//! handed to monoio as a `UnixStream`: under io_uring that type is only a
//! descriptor to put in the submission (nothing is registered, no socket
//! call is made on it). Under the epoll driver registering a regular file
//! fails, and the caller falls back to copying (see `copy.rs`).
//!
//! A pipe costs two descriptors; each worker keeps a few idle ones for reuse
//! (`MAX_IDLE_PIPES`) and takes them only for the length of a transfer.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::time::Duration;

use monoio::io::splice::{SpliceDestination, SpliceSource};
use monoio::net::unix::new_pipe;
use monoio::net::{Pipe, TcpStream, UnixStream};

use super::reply::FileBody;
use super::send_error::SendError;
use crate::timer::timeout;

/// What one splice moves at most: a pipe's default capacity.
const PIECE: u32 = 64 * 1024;
/// Idle pipes kept per worker.
const MAX_IDLE_PIPES: usize = 8;

thread_local! {
    static IDLE_PIPES: RefCell<Vec<(Pipe, Pipe)>> = const { RefCell::new(Vec::new()) };
    /// Set once splicing a file failed to start on this worker (the epoll
    /// driver), so later transfers go straight to copying.
    static UNAVAILABLE: Cell<bool> = const { Cell::new(false) };
}

/// A transfer that could not start; nothing was sent, copying may take over.
pub struct Unavailable;

/// Sends the body, each piece within `wait`; `Unavailable` before a byte
/// was sent if splicing can't be done here.
pub async fn send(
    socket: &mut TcpStream,
    body: &FileBody,
    wait: Duration,
) -> Result<Result<(), SendError>, Unavailable> {
    if UNAVAILABLE.with(Cell::get) {
        return Err(Unavailable);
    }
    let (mut source, (mut reader, mut writer)) = match prepare(&body.file, body.start) {
        Ok(parts) => parts,
        Err(err) => {
            crate::log::debug(format_args!("splice unavailable ({err}); copying files"));
            UNAVAILABLE.with(|flag| flag.set(true));
            return Err(Unavailable);
        }
    };
    let sent = pump(
        &mut source,
        &mut reader,
        &mut writer,
        socket,
        body.len,
        wait,
    )
    .await;
    if sent.is_ok() {
        give_pipe(reader, writer);
    }
    Ok(sent)
}

/// The file as a splice source positioned at `start` (its own descriptor,
/// so the caller's `File` stays usable), and a pipe.
fn prepare(file: &File, start: u64) -> io::Result<(UnixStream, (Pipe, Pipe))> {
    let mut own = file.try_clone()?;
    own.seek(SeekFrom::Start(start))?;
    let source = UnixStream::from_std(std::os::unix::net::UnixStream::from(OwnedFd::from(own)))?;
    Ok((source, take_pipe()?))
}

async fn pump(
    source: &mut UnixStream,
    reader: &mut Pipe,
    writer: &mut Pipe,
    socket: &mut TcpStream,
    len: u64,
    wait: Duration,
) -> Result<(), SendError> {
    let mut remaining = len;
    while remaining > 0 {
        let want = u32::try_from(remaining).map_or(PIECE, |n| n.min(PIECE));
        let filled = timeout(wait, source.splice_to_pipe(writer, want))
            .await
            .map_err(|_| SendError::File(io::ErrorKind::TimedOut.into()))?
            .map_err(SendError::File)?;
        if filled == 0 {
            return Err(SendError::Truncated);
        }
        drain(reader, socket, filled, wait).await?;
        remaining -= u64::from(filled);
    }
    Ok(())
}

/// Moves `len` bytes from the pipe to the socket.
async fn drain(
    reader: &mut Pipe,
    socket: &mut TcpStream,
    mut len: u32,
    wait: Duration,
) -> Result<(), SendError> {
    while len > 0 {
        let moved = timeout(wait, socket.splice_from_pipe(reader, len))
            .await
            .map_err(|_| SendError::Client)?;
        match moved {
            Ok(0) => return Err(SendError::Client),
            Ok(n) => len -= n.min(len),
            // A non-blocking socket with a full send buffer.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                timeout(wait, socket.writable(false))
                    .await
                    .map_err(|_| SendError::Client)?
                    .map_err(|_| SendError::Client)?;
            }
            Err(_) => return Err(SendError::Client),
        }
    }
    Ok(())
}

fn take_pipe() -> io::Result<(Pipe, Pipe)> {
    match IDLE_PIPES.with(|idle| idle.borrow_mut().pop()) {
        Some(pipe) => Ok(pipe),
        None => new_pipe(),
    }
}

/// Keeps an emptied pipe for the next transfer (one that failed may still
/// hold bytes, so the caller drops it instead).
fn give_pipe(reader: Pipe, writer: Pipe) {
    IDLE_PIPES.with(|idle| {
        let mut idle = idle.borrow_mut();
        if idle.len() < MAX_IDLE_PIPES {
            idle.push((reader, writer));
        }
    });
}
