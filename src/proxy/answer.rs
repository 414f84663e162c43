//! tern's own answers, in one place: writing a response tern made (an
//! error, a redirect, a refusal), reading and dropping the request body it
//! answered without (`drop_body`, after a `100 Continue` when the client
//! waits for one) or closing after it without the kernel resetting it away
//! (`linger_close`), and logging a refused request.

use std::net::SocketAddr;
use std::time::Duration;

use crate::access_log::Entry;
use crate::buffer::BUF_SIZE;
use crate::conn::downstream::Downstream;
use crate::conn::{Conn, Next};
use crate::failure::Failure;
use crate::files::Reply;
use crate::http::chunked::ChunkedReframer;
use crate::http::request::{RequestHead, DROPPABLE_BODY_MAX};
use crate::http::status::{error_response, CONTINUE};
use crate::http::{BodyKind, Persist};
use crate::worker_ctx::WorkerCtx;

/// How long a refused client gets to stop sending before the socket closes.
const LINGER: Duration = Duration::from_millis(500);
/// How much unread input is drained at most before closing.
const LINGER_BYTES: usize = 256 * 1024;
/// The most bytes a dropped chunked body may take on the wire: its data is
/// bounded by `DROPPABLE_BODY_MAX`, its framing (many tiny chunks) by this.
const DROPPED_WIRE_MAX: u64 = 2 * DROPPABLE_BODY_MAX;

/// A request body tern answers without: how it is framed, and whether the
/// client waits for a `100 Continue` before sending it.
#[derive(Debug, Clone, Copy)]
pub struct UnreadBody {
    pub kind: BodyKind,
    pub expects_continue: bool,
}

impl UnreadBody {
    pub fn of(req: &RequestHead) -> UnreadBody {
        UnreadBody {
            kind: req.body,
            expects_continue: req.expect_continue,
        }
    }

    fn is_empty(self) -> bool {
        self.kind.is_empty()
    }

    /// Whether a `100 Continue` must go before the answer: the body is to
    /// be dropped (`keep`), and its client won't send it without one.
    fn needs_continue(self, keep: bool) -> bool {
        keep && self.expects_continue && !self.is_empty()
    }

    /// The bytes sent before an answer that says `persist` of the
    /// connection: a `100 Continue`, or nothing. Not asked over HTTP/2,
    /// which sends none.
    pub fn interim_bytes(self, persist: Persist) -> u64 {
        if self.needs_continue(persist != Persist::Close) {
            CONTINUE.len() as u64
        } else {
            0
        }
    }
}

/// Refused requests go to the access log (with what of the request line
/// there is) and, at debug level, to the error log.
pub(super) fn log_refusal(ctx: &WorkerCtx, head: &[u8], client: SocketAddr, failure: Failure) {
    let status = failure.status();
    crate::log::debug(format_args!(
        "refused a request from {client} with {status}: {}",
        failure.cause()
    ));
    if ctx.stats.access_enabled() {
        let entry = Entry::unparsed(head, client.ip());
        let bytes = error_response(status, true).len() as u64;
        ctx.stats.log_local(&entry, None, status, bytes);
    }
}

/// Writes a response tern made itself; closes after it when asked to.
pub(super) async fn send_answer<C: Downstream>(
    client: &mut C,
    response: Vec<u8>,
    close: bool,
) -> Next {
    let (result, _) = client.write_owned(response).await;
    match (result, close) {
        (Ok(()), false) => Next::KeepAlive,
        (Ok(()), true) => {
            client.linger_close().await;
            Next::Close
        }
        (Err(_), _) => Next::Close,
    }
}

/// Writes tern's answer to a request whose body (`body`) it needs not
/// read; unless the connection is to close, reads and drops that body
/// (all of it within `wait`) before the next request, after a `100
/// Continue` in the same write when the client waits for one.
pub(super) async fn answer_and_drop_body(
    client: &mut Conn,
    mut response: Vec<u8>,
    close: bool,
    body: UnreadBody,
    wait: Duration,
) -> Next {
    if body.needs_continue(!close) {
        response.splice(0..0, CONTINUE.iter().copied());
    }
    match send_answer(client, response, close).await {
        Next::KeepAlive if !body.is_empty() => drop_body(client, body.kind, wait).await,
        next => next,
    }
}

/// Sends a static file's reply (after a `100 Continue` when its client
/// waits for one to send the body), then drops the request's unread `body`
/// or lingers before the close (`after_reply`).
pub(super) async fn send_static(
    client: &mut Conn,
    reply: Reply,
    body: UnreadBody,
    wait: Duration,
) -> Next {
    if body.needs_continue(reply.persist != Persist::Close) {
        let (written, _) = client.write_owned(CONTINUE.to_vec()).await;
        if written.is_err() {
            return Next::Close;
        }
    }
    let next = crate::files::send(client, reply, wait).await;
    after_reply(client, next, body.kind, wait).await
}

/// What follows a reply tern made itself whose request `body` it did not
/// read: the body is dropped when the connection goes on (`next`), and
/// lingered over when it closes, so that the kernel doesn't reset the
/// reply away.
async fn after_reply(client: &mut Conn, next: Next, body: BodyKind, wait: Duration) -> Next {
    match next {
        Next::KeepAlive if !body.is_empty() => drop_body(client, body, wait).await,
        Next::KeepAlive => Next::KeepAlive,
        Next::Close => {
            linger_close(client).await;
            Next::Close
        }
    }
}

/// Reads and drops a request body of at most `DROPPABLE_BODY_MAX` bytes:
/// `KeepAlive` once it has all come, `Close` when it is larger or malformed
/// (after a linger, as it is still coming) or when it has not all come
/// within `wait`. One deadline for the whole body, as nginx's
/// `lingering_time`: a client trickling a byte at a time must not hold the
/// connection past it.
async fn drop_body(client: &mut Conn, body: BodyKind, wait: Duration) -> Next {
    let deadline = crate::timer::deadline_after(wait);
    let mut left = match body {
        BodyKind::Length(len) if len <= DROPPABLE_BODY_MAX => len,
        BodyKind::Chunked => DROPPED_WIRE_MAX,
        _ => return Next::Close,
    };
    let mut chunked =
        (body == BodyKind::Chunked).then(|| ChunkedReframer::checker(DROPPABLE_BODY_MAX));
    loop {
        let buffered = client.buffered();
        let take = buffered
            .len()
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        let (used, done) = match chunked.as_mut() {
            None => (take, take as u64 == left),
            Some(checker) => match checker.feed(&buffered[..take], &mut Vec::new()) {
                Ok(used) => (used, checker.is_done()),
                Err(_) => (0, false),
            },
        };
        client.consume(used);
        left -= used as u64;
        if done {
            return Next::KeepAlive;
        }
        if used < take || left == 0 {
            // Malformed, or larger than what is dropped.
            linger_close(client).await;
            return Next::Close;
        }
        let read = crate::timer::timeout_at(deadline, client.wait_and_fill(true, BUF_SIZE)).await;
        if !matches!(read, Ok(Ok(n)) if n > 0) {
            return Next::Close;
        }
    }
}

/// Answers with an error, then closes without resetting the response away.
pub(super) async fn refuse(client: &mut Conn, status: u16) {
    send_answer(client, error_response(status, true), true).await;
}

/// Closing a socket with unread input makes the kernel send a reset, which
/// can destroy the response still in flight. Half-close, then read and drop
/// what the client is still sending, briefly.
pub(super) async fn linger_close(client: &mut Conn) {
    let _ = client.shutdown_write().await;
    let drain = async {
        let mut drained = 0;
        while drained < LINGER_BYTES {
            let consumed = client.buffered().len();
            client.consume(consumed);
            drained += consumed;
            // Readiness first: a burst of refusals (an upstream restart
            // failing every held long-poll at once) must not pin a buffer
            // per lingering connection.
            match client.wait_and_fill(false, crate::buffer::BUF_SIZE).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let _ = crate::timer::timeout(LINGER, drain).await;
}
