//! Each worker's doorbell: how another worker wakes requests waiting here
//! for a server slot (`limit`). Wakers of this runtime can't be woken from
//! another thread, so the other thread writes a byte to a socket pair whose
//! reading end a task of this worker watches; that task wakes every local
//! waiter, and each looks whether its ticket was handed a slot. A slot
//! handed to a waiter on the same worker wakes the waiters directly.
//! Only queued requests ring: nothing here is on the path of a request
//! that didn't wait.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::Mutex;

use monoio::io::AsyncReadRent;

use super::queue::Waiters;

thread_local! {
    /// Requests of this worker waiting for a slot.
    static LOCAL: Rc<Waiters> = Rc::default();
    /// This thread's worker id (`usize::MAX` on other threads).
    static ME: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The writing end of each worker's doorbell, by worker id.
static BELLS: Mutex<Vec<Option<OwnedFd>>> = Mutex::new(Vec::new());

/// Sets up this worker's doorbell and starts the task that answers it.
pub fn install(worker: usize) -> io::Result<()> {
    let (reader, writer) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    writer.set_nonblocking(true)?;
    let reader = monoio::net::UnixStream::from_std(reader)?;
    {
        let mut bells = BELLS.lock().unwrap_or_else(|p| p.into_inner());
        if bells.len() <= worker {
            bells.resize_with(worker + 1, || None);
        }
        bells[worker] = Some(writer.into());
    }
    ME.with(|me| me.set(worker));
    monoio::spawn(answer(reader));
    Ok(())
}

async fn answer(mut reader: monoio::net::UnixStream) {
    let mut buf = vec![0u8; 64];
    loop {
        let (read, back) = reader.read(buf).await;
        buf = back;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => LOCAL.with(|waiters| waiters.wake_all()),
        }
    }
}

/// This worker's waiters, to wait on.
pub fn local() -> Rc<Waiters> {
    LOCAL.with(Rc::clone)
}

/// Wakes the waiters of `worker`.
pub fn ring(worker: usize) {
    if ME.with(Cell::get) == worker {
        LOCAL.with(|waiters| waiters.wake_all());
        return;
    }
    let bells = BELLS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(Some(bell)) = bells.get(worker) {
        // SAFETY: a one-byte write from a valid local on a socket the
        // table owns. A full socket already has a ring pending: the byte
        // is not needed, so EAGAIN is fine to ignore.
        unsafe {
            libc::send(
                bell.as_raw_fd(),
                [1u8].as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            );
        }
    }
}
