//! Looking at what waits on a socket without reading it (`MSG_PEEK`): is a
//! pooled upstream connection still quiet, has a waiting client sent more
//! or gone away. One place for the one `unsafe` call they all need.

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

    fn wait_for(stream: &std::net::TcpStream, wanted: Peeked) -> bool {
        (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(5));
            peek(stream.as_raw_fd()) == wanted
        })
    }
}
