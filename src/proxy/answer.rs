//! tern's own answers, in one place: writing a response tern made (an
//! error, a redirect, a refusal), closing after it without the kernel
//! resetting it away (`linger_close`), and logging a refused request.

use std::net::SocketAddr;
use std::time::Duration;

use crate::access_log::Entry;
use crate::conn::downstream::Downstream;
use crate::conn::{Conn, Next};
use crate::failure::Failure;
use crate::http::status::error_response;
use crate::worker_ctx::WorkerCtx;

/// How long a refused client gets to stop sending before the socket closes.
const LINGER: Duration = Duration::from_millis(500);
/// How much unread input is drained at most before closing.
const LINGER_BYTES: usize = 256 * 1024;

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
