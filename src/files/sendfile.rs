//! Sending file bytes with `sendfile(2)`: page cache to socket, no copy
//! through tern. The socket is made non-blocking so a slow client parks the
//! transfer on writability (monoio `writable()`) instead of blocking the
//! worker; each call moves at most `PIECE`.
//!
//! The head goes first with a plain `send(MSG_MORE)`: the kernel holds it
//! and sends it in the first segment of the file's bytes, where a separate
//! write would cost a segment of its own (and on loopback the client's
//! receive of it) — what nginx's `tcp_nopush` does with TCP_CORK.
//!
//! It replaced io_uring splice (file → pipe → socket), which the kernel
//! runs on its io-wq threads: 1 MiB files cost three times nginx's CPU that
//! way, against about nginx's own with sendfile. `sendfile` of bytes not in
//! the page cache would block the worker until the disk delivers them, so
//! each piece is first checked (`disk::in_cache`); from the first piece
//! that isn't cached on, the rest is copied, read through the ring.

use std::os::fd::AsRawFd;
use std::time::Duration;

use super::copy;
use super::disk;
use super::reply::FileBody;
use super::send_error::SendError;
use crate::conn::Conn;
use crate::timer::timeout;

/// What one `sendfile` moves at most.
const PIECE: usize = 512 * 1024;

/// Sends `head`, then the file bytes of `body`.
pub async fn send(
    client: &mut Conn,
    head: &[u8],
    body: &FileBody,
    wait: Duration,
) -> Result<(), SendError> {
    set_nonblocking(client).map_err(|_| SendError::Client)?;
    send_head(client, head, wait).await?;
    send_file(client, body, wait).await
}

/// Sends `head` marked as followed by more (MSG_MORE): it waits in the
/// socket for the file's first bytes.
async fn send_head(client: &mut Conn, head: &[u8], wait: Duration) -> Result<(), SendError> {
    let mut at = 0;
    while at < head.len() {
        match crate::peek::send_more_now(client.stream.as_raw_fd(), &head[at..]) {
            Ok(0) => writable(client, wait).await?,
            Ok(n) => {
                client.note_sent(n);
                at += n;
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(SendError::Client),
        }
    }
    Ok(())
}

async fn send_file(client: &mut Conn, body: &FileBody, wait: Duration) -> Result<(), SendError> {
    let mut offset = i64::try_from(body.start).map_err(|_| SendError::Truncated)?;
    let mut left = body.len;
    // The end of the bytes found cached: each piece is asked about once,
    // not again at every wake-up of a client that takes it slowly.
    let mut cached_to = offset;
    while left > 0 {
        if offset >= cached_to {
            let piece = usize::try_from(left).map_or(PIECE, |n| n.min(PIECE));
            if !disk::in_cache(&body.file, offset as u64, piece) {
                return copy::send_from(client, body, offset as u64, wait).await;
            }
            cached_to = offset + piece as i64;
        }
        let want = (cached_to - offset) as usize;
        // SAFETY: both descriptors are open for the call; `offset` is ours.
        let sent = unsafe {
            libc::sendfile(
                client.stream.as_raw_fd(),
                body.file.as_raw_fd(),
                &mut offset,
                want,
            )
        };
        match sent {
            0 => return Err(SendError::Truncated),
            n if n > 0 => {
                client.note_sent(n as usize);
                left -= n as u64;
            }
            _ => wait_writable(client, wait).await?,
        }
    }
    Ok(())
}

/// After a failed sendfile: on EAGAIN waits until the socket takes more;
/// other errors end it.
async fn wait_writable(client: &Conn, wait: Duration) -> Result<(), SendError> {
    let err = std::io::Error::last_os_error();
    match err.kind() {
        std::io::ErrorKind::WouldBlock => writable(client, wait).await,
        std::io::ErrorKind::Interrupted => Ok(()),
        _ if is_client_side(&err) => Err(SendError::Client),
        _ => Err(SendError::File(err)),
    }
}

/// Waits until the socket takes more, within `wait`.
async fn writable(client: &Conn, wait: Duration) -> Result<(), SendError> {
    match timeout(wait, client.stream.writable(false)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(SendError::Client),
    }
}

fn is_client_side(err: &std::io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EPIPE | libc::ECONNRESET | libc::ENOTCONN)
    )
}

/// io_uring doesn't need it, but sendfile on a blocking socket would block
/// the worker; monoio's own sockets are already non-blocking.
fn set_nonblocking(client: &Conn) -> std::io::Result<()> {
    let fd = client.stream.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, flags only.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if flags & libc::O_NONBLOCK == 0
            && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
