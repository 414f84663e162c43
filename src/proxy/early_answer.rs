//! An upstream that answers a request before it has taken the body: an
//! application refusing an upload (413, 401) answers on sight of the head
//! and stops reading, and either closes (its kernel resets tern's sending)
//! or keeps the connection open. A client sending a body watches for such
//! an answer (RFC 9112 §9.6); tern, sending the body on its behalf, does
//! the same, so the client gets the answer instead of a 502 — and gets it
//! at once, not after the server timeout.
//!
//! tern sends the body before it reads the response, so the look is made
//! when a write to the upstream has waited: after a `timer::TICK` or two,
//! and every tick after while it still waits, a peek at the upstream's
//! socket (`final_answer_waits`). A write that completes costs nothing more
//! than the timeout it always had. Only a final answer counts: an interim
//! one (`102 Processing`) says the upstream is still at work. The body's
//! writes are watched (`pump::ToUpstream`), not the head's: it fits the
//! socket's buffer (with at most 64 KiB of body), and its future lies in
//! every connection's, which must stay small (`proxy::size_tests`); should
//! it fail or time out, `exchange::answered_early` still looks.
//!
//! Plain upstreams only: on a TLS one the bytes waiting are records that
//! may hold no answer (a session ticket sent after the handshake), so a
//! TLS upstream's answer is found when its write fails or times out.

use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::pin;
use std::time::Duration;

use crate::conn::Conn;
use crate::peek::peek_into;
use crate::timer::{deadline_after, last_tick, timeout_at, TICK};

/// Where to look for an early answer while writing to `upstream`: its
/// descriptor when it is plain, else nowhere.
pub fn watch_of(upstream: &Conn) -> Option<RawFd> {
    (!upstream.is_tls()).then(|| upstream.stream.as_raw_fd())
}

/// Whether a final response from `upstream` (a plain connection's) waits
/// unread: the first ten bytes are there and are not a 1xx status line's.
pub fn final_answer_waits(upstream: RawFd) -> bool {
    // "HTTP/1.1 4": the status's first digit is the tenth byte.
    let mut start = [0u8; 10];
    peek_into(upstream, &mut start) == start.len() && start[9] != b'1'
}

/// `write`'s output if it completes within `wait`; `None` if it doesn't,
/// or if, while it waits, a final answer turns up on `watch` (the upstream
/// stopped reading to answer). The write is abandoned either way: its
/// connection must not carry another request.
pub async fn write_within<T>(
    wait: Duration,
    watch: Option<RawFd>,
    write: impl Future<Output = T>,
) -> Option<T> {
    let Some(upstream) = watch else {
        return crate::timer::timeout(wait, write).await.ok();
    };
    let deadline = deadline_after(wait);
    let mut write = pin!(write);
    loop {
        let look = deadline_after(TICK).min(deadline);
        if let Ok(done) = timeout_at(look, write.as_mut()).await {
            return Some(done);
        }
        if last_tick() >= deadline || final_answer_waits(upstream) {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let near =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (far, _) = listener.accept().expect("accept");
        (near, far)
    }

    /// Whether an answer waits once `sent` has arrived whole (as far as
    /// the look goes).
    fn waits_after(sent: &[u8]) -> bool {
        let (near, mut far) = pair();
        far.write_all(sent).expect("write");
        let mut start = [0u8; 10];
        let expected = sent.len().min(start.len());
        let arrived = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            peek_into(near.as_raw_fd(), &mut start) == expected
        });
        assert!(arrived, "{sent:?} did not arrive");
        final_answer_waits(near.as_raw_fd())
    }

    #[test]
    fn a_final_status_line_is_an_answer() {
        assert!(waits_after(b"HTTP/1.1 413 Payload Too Large\r\n"));
        assert!(waits_after(b"HTTP/1.0 200 OK\r\n"));
    }

    #[test]
    fn an_interim_status_line_or_too_few_bytes_are_not() {
        assert!(!waits_after(b"HTTP/1.1 102 Processing\r\n\r\n"));
        assert!(!waits_after(b"HTTP/1.1 "));
        let (near, _far) = pair();
        assert!(!final_answer_waits(near.as_raw_fd()), "nothing sent");
    }
}
