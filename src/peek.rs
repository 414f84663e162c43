//! Looking at what waits on a socket without waiting for it: is a pooled
//! upstream connection still quiet, has a waiting client sent more or gone
//! away (`peek`, with `MSG_PEEK`), what an upstream has begun to answer
//! (`peek_into`), taking what is already there
//! (`recv_now`), and the other side: sending what the socket takes at once
//! (`send_now`, `send_parts_now` for a response in pieces, or
//! `send_more_now` for a static file's head) and ending the
//! sending side (`end_sending`), for a connection's last response
//! (`conn::last`). One place for the `unsafe` calls they need.

use std::os::fd::RawFd;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peeked {
    /// Nothing to read yet.
    Nothing,
    /// At least one byte waits.
    Bytes,
    /// The peer closed its sending side (FIN).
    Eof,
    /// The socket failed (a reset, most likely).
    Failed,
}

/// What waits on `fd`, a connected stream socket; never blocks.
pub fn peek(fd: RawFd) -> Peeked {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a valid local; a bad descriptor only
    // makes recv fail.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => Peeked::Eof,
        n if n > 0 => Peeked::Bytes,
        _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => {
            Peeked::Nothing
        }
        _ => Peeked::Failed,
    }
}

/// Copies what waits first on `fd` into `out` without taking it, as much
/// as waits up to `out`'s length; never blocks. 0: nothing waits, the
/// peer closed, or the socket failed.
pub fn peek_into(fd: RawFd, out: &mut [u8]) -> usize {
    // SAFETY: recv writes at most `out.len()` bytes into `out`; a bad
    // descriptor only makes it fail.
    let n = unsafe {
        libc::recv(
            fd,
            out.as_mut_ptr().cast(),
            out.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).unwrap_or(0)
}

/// Reads what already waits on `fd` into `out`'s spare capacity, up to
/// `max` bytes; never blocks. `Ok(None)`: nothing waits; `Ok(Some(0))`: the
/// peer closed.
pub fn recv_now(fd: RawFd, out: &mut Vec<u8>, max: usize) -> std::io::Result<Option<usize>> {
    let len = out.len();
    let room = max.min(out.capacity() - len);
    // SAFETY: `room` bytes from `len` on are within `out`'s allocation (its
    // spare capacity); recv writes at most `room` bytes there, and a bad
    // descriptor only makes it fail.
    let n = unsafe {
        libc::recv(
            fd,
            out.as_mut_ptr().add(len).cast(),
            room,
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        let err = std::io::Error::last_os_error();
        return match err.kind() {
            std::io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(err),
        };
    }
    let n = n as usize;
    // SAFETY: recv initialised the `n` (≤ `room`) bytes after `len`.
    unsafe { out.set_len(len + n) };
    Ok(Some(n))
}

/// Sends what of `bytes` the socket takes at once; never blocks. `Ok(0)`:
/// its buffer is full.
pub fn send_now(fd: RawFd, bytes: &[u8]) -> std::io::Result<usize> {
    send_with(fd, bytes, 0)
}

/// `send_now` for bytes with more to follow at once (MSG_MORE): the kernel
/// holds a partial last segment for it instead of sending it alone. A
/// static file's head, which rides in the first segment of the file.
pub fn send_more_now(fd: RawFd, bytes: &[u8]) -> std::io::Result<usize> {
    send_with(fd, bytes, libc::MSG_MORE)
}

/// `send_now` for bytes in several buffers, in order, in one call.
pub fn send_parts_now(fd: RawFd, parts: &[&[u8]; 3]) -> std::io::Result<usize> {
    let mut iovecs = parts.map(|part| libc::iovec {
        iov_base: part.as_ptr().cast_mut().cast(),
        iov_len: part.len(),
    });
    // SAFETY: all-zero is a valid msghdr (no address, no control data).
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = iovecs.as_mut_ptr();
    message.msg_iovlen = iovecs.len();
    // SAFETY: the iovecs describe live slices for the call's duration and
    // sendmsg only reads them; a bad descriptor only makes it fail.
    let n = unsafe { libc::sendmsg(fd, &message, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
    sent(n)
}

fn send_with(fd: RawFd, bytes: &[u8], flags: libc::c_int) -> std::io::Result<usize> {
    // SAFETY: `bytes` is a valid slice for the call; a bad descriptor only
    // makes send fail.
    let n = unsafe {
        libc::send(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    sent(n)
}

/// A send's result: bytes taken, 0 when the socket's buffer is full.
fn sent(n: isize) -> std::io::Result<usize> {
    if n < 0 {
        let err = std::io::Error::last_os_error();
        return match err.kind() {
            std::io::ErrorKind::WouldBlock => Ok(0),
            _ => Err(err),
        };
    }
    Ok(n as usize)
}

/// Ends the sending side of `fd` (a FIN, after what was sent); best effort:
/// the connection closes next either way.
pub fn end_sending(fd: RawFd) {
    // SAFETY: shutdown takes no memory; a bad descriptor only makes it fail.
    unsafe {
        libc::shutdown(fd, libc::SHUT_WR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn tells_nothing_bytes_and_the_end_apart() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        assert_eq!(peek(server.as_raw_fd()), Peeked::Nothing);
        client.write_all(b"x").expect("write");
        assert!(wait_for(&server, Peeked::Bytes));
        drop(client);
        let mut byte = [0u8; 1];
        let _ = std::io::Read::read(&mut &server, &mut byte);
        assert!(wait_for(&server, Peeked::Eof));
    }

    #[test]
    fn recv_now_takes_what_waits_up_to_max_and_never_blocks() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(b"head:");
        let fd = server.as_raw_fd();
        assert_eq!(
            recv_now(fd, &mut out, 16).expect("recv"),
            None,
            "nothing waits"
        );
        client.write_all(b"body bytes and more").expect("write");
        assert!(wait_for(&server, Peeked::Bytes));
        assert_eq!(
            recv_now(fd, &mut out, 4).expect("recv"),
            Some(4),
            "max holds"
        );
        assert_eq!(
            recv_now(fd, &mut out, 100).expect("recv"),
            Some(7),
            "capacity holds"
        );
        assert_eq!(out, b"head:body bytes ");
        out.clear();
        assert_eq!(recv_now(fd, &mut out, 100).expect("recv"), Some(8));
        out.clear();
        drop(client);
        assert!(wait_for(&server, Peeked::Eof));
        assert_eq!(
            recv_now(fd, &mut out, 16).expect("recv"),
            Some(0),
            "the end"
        );
    }

    #[test]
    fn bytes_sent_with_more_to_follow_arrive_ahead_of_what_follows() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        let fd = client.as_raw_fd();
        assert_eq!(send_more_now(fd, b"head, ").expect("send"), 6);
        assert_eq!(send_now(fd, b"then the body").expect("send"), 13);
        drop(client);
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut server, &mut got).expect("read");
        assert_eq!(got, b"head, then the body");
    }

    fn wait_for(stream: &std::net::TcpStream, wanted: Peeked) -> bool {
        (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            peek(stream.as_raw_fd()) == wanted
        })
    }
}
