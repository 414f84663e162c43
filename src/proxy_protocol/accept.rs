//! Taking a PROXY header off a new connection (`accept_proxy`).
//!
//! The header is read with peeks, and only its own bytes are taken off the
//! socket: what follows it (an HTTP request, or a TLS ClientHello that the
//! handshake reads from the socket itself) stays there untouched.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use monoio::net::TcpStream;

use super::parse::{parse, Parsed, MAX_HEADER};
use super::Addresses;

/// Reads the header within `limit`. `Ok(None)`: a valid header that names
/// no client (LOCAL, UNKNOWN); `Err`: why the connection is to be closed.
pub async fn read_header(stream: &TcpStream, limit: Duration) -> Result<Option<Addresses>, String> {
    let mut buf = crate::buffer::take();
    buf.resize(MAX_HEADER, 0);
    let read = crate::timer::timeout(limit, read(stream, &mut buf)).await;
    crate::buffer::give(buf);
    match read {
        Ok(result) => result,
        Err(_) => Err("no complete PROXY header in time".into()),
    }
}

async fn read(stream: &TcpStream, buf: &mut [u8]) -> Result<Option<Addresses>, String> {
    let fd = stream.as_raw_fd();
    // Each round takes at least one byte off the socket or ends, and the
    // header is at most MAX_HEADER bytes; the caller's timeout bounds the
    // rare spurious wake-up.
    let mut have = 0;
    loop {
        stream.readable(false).await.map_err(|e| e.to_string())?;
        let n = match recv(fd, &mut buf[have..], libc::MSG_PEEK) {
            Ok(0) => return Err("closed before a PROXY header".into()),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err.to_string()),
        };
        match parse(&buf[..have + n]) {
            Parsed::Done { len, addresses } => {
                take(fd, &mut buf[have..len])?;
                return Ok(addresses);
            }
            Parsed::Incomplete if have + n < buf.len() => {
                take(fd, &mut buf[have..have + n])?;
                have += n;
            }
            Parsed::Incomplete => return Err("PROXY header too long".into()),
            Parsed::Invalid(why) => return Err(why.into()),
        }
    }
}

/// Takes exactly `into.len()` bytes that a peek has shown are there.
fn take(fd: RawFd, into: &mut [u8]) -> Result<(), String> {
    match recv(fd, into, 0) {
        Ok(n) if n == into.len() => Ok(()),
        Ok(_) => Err("PROXY header bytes went missing".into()),
        Err(err) => Err(err.to_string()),
    }
}

fn recv(fd: RawFd, into: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: a non-blocking recv into a valid, exclusively borrowed slice
    // of its stated length, on a descriptor the caller's stream owns.
    let n = unsafe {
        libc::recv(
            fd,
            into.as_mut_ptr().cast(),
            into.len(),
            flags | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}
