//! Noticing a client that leaves while tern waits for the upstream's answer.
//!
//! A long-poll client that gives up closes its connection; unless tern
//! notices, it holds that socket and the upstream request until the
//! upstream answers or the server timeout runs out (minutes for
//! long-polls), and the application keeps the subscription too. So the
//! wait for a response head also watches the client socket, readiness only
//! (no buffer), and a peek that finds end of stream means the client is
//! gone: the caller drops the upstream connection, which ends the request
//! there as well. Like nginx (without `proxy_ignore_client_abort`), a client
//! that half-closes after its request counts as gone. Bytes the client
//! sends meanwhile (a pipelined request) stay unread and end the watch.

use std::os::fd::AsRawFd;

use monoio::net::TcpStream;

/// Resolves once the client has closed; never, once it has sent bytes.
pub async fn client_left(stream: &TcpStream) {
    // Bounded: each turn waits for readiness, and a turn ends in return,
    // or in pending forever once bytes are seen.
    loop {
        if stream.readable(false).await.is_err() {
            return;
        }
        match peek(stream) {
            Peek::Closed => return,
            Peek::Bytes => return std::future::pending().await,
            Peek::Nothing => {}
        }
    }
}

enum Peek {
    Closed,
    Bytes,
    Nothing,
}

fn peek(stream: &TcpStream) -> Peek {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a valid local, on a descriptor the
    // stream owns for the duration of the call.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => Peek::Closed,
        n if n > 0 => Peek::Bytes,
        _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => {
            Peek::Nothing
        }
        // A reset or any other error: the client is gone as well.
        _ => Peek::Closed,
    }
}
