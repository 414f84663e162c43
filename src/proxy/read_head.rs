//! Waiting for and reading one request head, within the limits and timeouts.

use std::time::{Duration, Instant};

use crate::timer::{timeout, timeout_at};

use super::conn::Conn;
use crate::config::Limits;
use crate::http::scan::{leading_empty_lines, HeadScanner, Scan};
use crate::worker_ctx::WorkerCtx;

pub enum HeadEnd {
    /// The client went away, idled out, or the worker is draining: close
    /// without a response.
    Closed,
    /// Refuse with this status and close.
    Reject(u16),
}

/// A wait shorter than this counts as quick (see `Conn::wait_and_fill`).
pub const QUICK_WAIT: Duration = Duration::from_millis(5);

/// Reads until a complete head is buffered and returns its length. `quick`
/// says whether this client's last wait between requests was short; it is
/// updated with this one.
pub async fn read_head(
    client: &mut Conn,
    ctx: &WorkerCtx,
    first: bool,
    quick: &mut bool,
) -> Result<usize, HeadEnd> {
    let limits = ctx.plan.limits;
    let timeouts = ctx.plan.client_timeouts;
    skip_empty_lines(client);
    if client.buffered().is_empty() {
        // This is where idle keep-alive connections spend their life.
        let wait = if first {
            timeouts.header
        } else {
            timeouts.idle
        };
        let started = Instant::now();
        // A new client sends its request at once, so its first wait is quick too.
        let read = client.wait_and_fill(*quick || first, limits.max_head_bytes + 1);
        // Draining closes idle keep-alives, but a connection just accepted
        // has its request on the way: it is served (bounded by the header
        // timeout), or a client that connected in the last moment of a
        // stop or an upgrade hand-over would be reset.
        let waited = monoio::select! {
            waited = timeout(wait, read) => waited,
            _ = ctx.drain.wait(), if !first => return Err(HeadEnd::Closed),
        };
        if !matches!(waited, Ok(Ok(n)) if n > 0) {
            return Err(HeadEnd::Closed);
        }
        *quick = started.elapsed() < QUICK_WAIT;
    }
    let deadline = Instant::now() + timeouts.header;
    let mut scanner = HeadScanner::default();
    loop {
        if scanner.is_fresh() {
            skip_empty_lines(client);
        }
        match scanner.scan(client.buffered()) {
            Scan::Complete { head_len } => return check_complete(&scanner, head_len, &limits),
            Scan::BareLineEnding => return Err(HeadEnd::Reject(400)),
            Scan::Partial { .. } => check_partial(&scanner, client.buffered().len(), &limits)?,
        }
        // Checked before the read: a read cut short by the timeout takes the
        // buffer with it.
        let started = !client.buffered().is_empty();
        match timeout_at(deadline, client.fill(limits.max_head_bytes + 1)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadEnd::Closed),
            Ok(Ok(_)) => {}
            Err(_elapsed) if started => return Err(HeadEnd::Reject(408)),
            Err(_elapsed) => return Err(HeadEnd::Closed),
        }
    }
}

fn skip_empty_lines(client: &mut Conn) {
    let n = leading_empty_lines(client.buffered());
    if n > 0 {
        client.consume(n);
    }
}

pub(crate) fn check_complete(
    scanner: &HeadScanner,
    head_len: usize,
    limits: &Limits,
) -> Result<usize, HeadEnd> {
    if scanner.first_line_end.unwrap_or(0) > limits.max_request_line_bytes {
        return Err(HeadEnd::Reject(414));
    }
    if head_len > limits.max_head_bytes {
        return Err(HeadEnd::Reject(431));
    }
    Ok(head_len)
}

pub(crate) fn check_partial(
    scanner: &HeadScanner,
    buffered: usize,
    limits: &Limits,
) -> Result<(), HeadEnd> {
    let line_len = scanner.first_line_end.unwrap_or(buffered);
    if line_len > limits.max_request_line_bytes {
        return Err(HeadEnd::Reject(414));
    }
    if buffered > limits.max_head_bytes {
        return Err(HeadEnd::Reject(431));
    }
    Ok(())
}
