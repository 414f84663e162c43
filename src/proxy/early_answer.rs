//! An upstream that answers a request before it has taken the body: an
//! application refusing an upload (413, 401) answers on sight of the head
//! and stops reading, and either closes (its kernel resets tern's sending)
//! or keeps the connection open. A client sending a body watches for such
//! an answer (RFC 9112 §9.6); tern, sending the body on its behalf, does
//! the same, so the client gets the answer instead of a 502 — and gets it
//! at once, not after the server timeout.
//!
//! tern sends the body before it reads the response, so the look is made
//! when a step of the body's sending has waited — a write to the upstream
//! (it stopped reading), or a read of the client's body (the client
//! paused, waiting for the answer the upstream already gave): after a
//! `timer::TICK` or two, and every tick after while it still waits, a peek
//! at the upstream's socket. A step that completes costs nothing more than
//! the timeout it always had. Only a final answer counts: an interim one
//! (`102 Processing`) says the upstream is still at work; and for a paused
//! client only an error answer (`refusal_waits`): an upstream may answer
//! 200 early and still read the body. The body's steps are watched
//! (`pump::ToUpstream`), not the head's write: it fits the socket's buffer
//! (with at most 64 KiB of body), and its future lies in every
//! connection's, which must stay small (`proxy::size_tests`); should it
//! fail or time out, `exchange::answered_early` still looks.
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
    waiting_status_class(upstream).is_some_and(|class| class != b'1')
}

/// Whether an error response (4xx, 5xx) waits unread. A write that waits
/// says the upstream stopped reading, and then any final answer ends the
/// body; while a client pauses mid-body the upstream may still be reading
/// it, having answered early, and only a refusal says it wants no more
/// (RFC 9112 §9.6).
pub fn refusal_waits(upstream: RawFd) -> bool {
    matches!(waiting_status_class(upstream), Some(b'4' | b'5'))
}

/// The first digit of the status of the response waiting unread on
/// `upstream`, once its first ten bytes are there ("HTTP/1.1 4").
fn waiting_status_class(upstream: RawFd) -> Option<u8> {
    let mut start = [0u8; 10];
    (peek_into(upstream, &mut start) == start.len()).then_some(start[9])
}

/// Why a watched step of the body's sending was abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// It did not complete within its wait.
    TimedOut,
    /// The answer looked for turned up while it waited.
    AnswerWaits,
}

/// `step`'s output (a write to the upstream, or a read of the client's
/// body) if it completes within `wait`; else why not: it didn't, or while
/// it waited the answer `answer_waits` looks for turned up on `watch`. The
/// step is abandoned either way, and with it the body: its connection must
/// not carry another request.
pub async fn within<T>(
    wait: Duration,
    watch: Option<RawFd>,
    answer_waits: fn(RawFd) -> bool,
    step: impl Future<Output = T>,
) -> Result<T, Abandoned> {
    let Some(upstream) = watch else {
        let done = crate::timer::timeout(wait, step).await;
        return done.map_err(|_| Abandoned::TimedOut);
    };
    let deadline = deadline_after(wait);
    let mut step = pin!(step);
    loop {
        let look = deadline_after(TICK).min(deadline);
        if let Ok(done) = timeout_at(look, step.as_mut()).await {
            return Ok(done);
        }
        if answer_waits(upstream) {
            return Err(Abandoned::AnswerWaits);
        }
        if last_tick() >= deadline {
            return Err(Abandoned::TimedOut);
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
        look_after(sent, final_answer_waits)
    }

    /// What `look` says once `sent` has arrived whole (as far as it goes).
    fn look_after(sent: &[u8], look: fn(RawFd) -> bool) -> bool {
        let (near, mut far) = pair();
        far.write_all(sent).expect("write");
        let mut start = [0u8; 10];
        let expected = sent.len().min(start.len());
        let arrived = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            peek_into(near.as_raw_fd(), &mut start) == expected
        });
        assert!(arrived, "{sent:?} did not arrive");
        look(near.as_raw_fd())
    }

    #[test]
    fn a_final_status_line_is_an_answer() {
        assert!(waits_after(b"HTTP/1.1 413 Payload Too Large\r\n"));
        assert!(waits_after(b"HTTP/1.0 200 OK\r\n"));
    }

    #[test]
    fn only_an_error_status_line_is_a_refusal() {
        let refusal = |sent: &[u8]| look_after(sent, refusal_waits);
        assert!(refusal(b"HTTP/1.1 413 Payload Too Large\r\n"));
        assert!(refusal(b"HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(!refusal(b"HTTP/1.1 200 OK\r\n"));
        assert!(!refusal(b"HTTP/1.1 102 Processing\r\n\r\n"));
    }

    #[test]
    fn an_interim_status_line_or_too_few_bytes_are_not() {
        assert!(!waits_after(b"HTTP/1.1 102 Processing\r\n\r\n"));
        assert!(!waits_after(b"HTTP/1.1 "));
        let (near, _far) = pair();
        assert!(!final_answer_waits(near.as_raw_fd()), "nothing sent");
    }
}
