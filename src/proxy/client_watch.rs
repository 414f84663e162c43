//! Noticing that a client went away while its request waits for the
//! upstream's response head — an abandoned long-poll, a closed tab.
//!
//! Without this, a closed client stays unnoticed until the upstream answers
//! or the `server` timeout passes (minutes for a long-poll): the socket sits
//! in CLOSE-WAIT, the upstream keeps the request, and the server's
//! `max_connections` slot stays taken. The watch waits for readiness only,
//! so a waiting request still holds no read buffer; one is taken only when
//! bytes (or the end) actually arrive.
//!
//! TCP cannot tell a client that half-closed (`shutdown(SHUT_WR)` after its
//! request, still reading) from one that closed for good: both send a FIN.
//! A closed socket answers data with a reset, so under the default `full`
//! mode an HTTP/1.1 client whose FIN arrives is sent `100 Continue` — an
//! interim response every HTTP/1.1 client must accept and skip (RFC 9110
//! §15.2) — and is abandoned only if a reset comes back. HTTP/1.0 clients
//! can't be sent one, so for them a FIN alone never aborts under `full`.
//!
//! The watch starts one timer tick after the request went upstream: most
//! answers come sooner and never arm its readiness poll (nor cancel it),
//! two of the six io_uring operations a small request took
//! (`bench/floor.sh`). A client that leaves is noticed a tick later.

use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::conn::Conn;
use crate::http::Version;
use crate::peek::{peek, Peeked};
use crate::route::AbortOn;

/// How long a request waits upstream before the watch starts.
const WATCH_AFTER: Duration = crate::timer::TICK;

/// How long to wait for a probe's reset: a few round trips on any path.
const PROBE_CHECKS: [Duration; 4] = [
    Duration::from_millis(20),
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

const PROBE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Returns when the client has gone (by `mode`); otherwise never returns,
/// so it can race the upstream's answer. Bytes the client sends meanwhile
/// (a pipelined request) are left for later, and end the watch.
///
/// Only the readiness wait lives in the connection's future; what follows
/// a FIN or TLS bytes is rare and boxed.
pub async fn client_gone(client: &mut Conn, mode: AbortOn, version: Version, limit: usize) {
    if mode == AbortOn::Never || !client.buffered().is_empty() {
        return std::future::pending().await;
    }
    let _ = crate::timer::sleep(WATCH_AFTER).await;
    let eof = match wait_for_news(client).await {
        Peeked::Nothing | Peeked::Failed => return,
        Peeked::Eof => true,
        // Raw bytes on a TLS connection may be a close_notify alert:
        // decrypt them to see.
        Peeked::Bytes if client.is_tls() => match Box::pin(client.fill(limit)).await {
            Err(_) => return,
            Ok(n) => n == 0,
        },
        Peeked::Bytes => false,
    };
    if eof && (mode == AbortOn::Half || Box::pin(probe_finds_reset(client, version)).await) {
        return;
    }
    std::future::pending().await
}

/// Waits until the client's socket has something to say; never `Nothing`.
async fn wait_for_news(client: &mut Conn) -> Peeked {
    loop {
        if client.readable().await.is_err() {
            return Peeked::Failed;
        }
        match peek(client.stream.as_raw_fd()) {
            // Readable because the TLS session holds the client's bytes
            // (read from the socket with earlier ones): news, not a spin.
            Peeked::Nothing if client.tls_pending() => return Peeked::Bytes,
            Peeked::Nothing => continue,
            news => return news,
        }
    }
}

/// After a FIN: `true` when the client turns out to have closed for good.
async fn probe_finds_reset(client: &mut Conn, version: Version) -> bool {
    if version != Version::Http11 {
        return false;
    }
    if client.write_owned(PROBE.to_vec()).await.0.is_err() {
        return true;
    }
    for wait in PROBE_CHECKS {
        let _ = crate::timer::sleep(wait).await;
        if reset_arrived(client) {
            return true;
        }
    }
    false
}

/// A reset on a socket we still hold shows as its pending error.
fn reset_arrived(client: &Conn) -> bool {
    let mut error: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_ERROR writes one c_int into `error`, whose size `len` gives;
    // the descriptor is the client's socket, open while `client` lives.
    let rc = unsafe {
        libc::getsockopt(
            client.stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut error as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && error != 0
}
