//! Waiting for and reading one request head, within the limits and timeouts.

use std::time::Duration;

use crate::timer::{deadline_after, timeout, timeout_at};

use monoio::io::Canceller;

use crate::buffer;
use crate::config::Limits;
use crate::conn::Conn;
use crate::failure::Failure;
use crate::http::scan::{could_start_request, leading_empty_lines, HeadScanner, Scan};
use crate::worker_ctx::WorkerCtx;

pub enum HeadEnd {
    /// The client went away, idled out, or the worker is draining: close
    /// without a response.
    Closed,
    /// Refuse (with the failure's status) and close.
    Reject(Failure),
}

/// A wait shorter than this counts as quick (see `Conn::wait_and_fill`):
/// the next wait gets a posted read, while the worker's budget of them
/// (`buffer::try_arm`) lasts. Busy keep-alive clients among many come back
/// every few tens of ms (1,000 wrk clients at 30k req/s: every 33 ms);
/// 100 ms takes them in, where 5 ms left them all to a poll and a read
/// (bench/README.md, *What was tried in io_uring*). The budget, not this,
/// bounds the buffers held.
pub const QUICK_WAIT: Duration = Duration::from_millis(100);

/// What a connection carries from one wait between requests to the next.
#[derive(Default)]
pub struct Between {
    /// The last wait was short (under `QUICK_WAIT`): the next one gets a
    /// posted read.
    quick: bool,
    /// Cancels a posted read on drain. Made once per connection, not per
    /// wait: a new one costs two allocations (its shared state, and its
    /// set of reads on the first insert), which every request of a busy
    /// client paid. Dropped once the client turns slow.
    canceller: Option<Canceller>,
}

/// Reads until a complete head is buffered and returns its length.
/// `between` says whether this client's last wait between requests was
/// short; it is updated with this one.
pub async fn read_head(
    client: &mut Conn,
    ctx: &WorkerCtx,
    first: bool,
    between: &mut Between,
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
        // On the metrics' clock (the TSC where the kernel trusts it): no
        // clock_gettime for a measure taken on every request.
        let started_us = ctx.stats.now_us();
        let limit = limits.max_head_bytes + 1;
        let arrived = if first && client.is_tls() {
            // The handshake came just before: the request follows at once.
            let read = timeout(wait, client.wait_and_fill(true, limit)).await;
            matches!(read, Ok(Ok(n)) if n > 0)
        } else {
            // A new client sends its request at once, so its first wait is
            // quick too. A drain doesn't cut it short: a client that
            // connected in the last moment of a stop or an upgrade
            // hand-over is served (bounded by the header timeout). Giving
            // way does, as nginx reuses a connection that has sent nothing
            // (a browser's spare, a probe): it holds a place a waiting
            // client could have.
            between.quick |= first;
            let drain_ends = !first;
            wait_between_requests(client, ctx, wait, between, limit, drain_ends).await
        };
        if !arrived {
            return Err(HeadEnd::Closed);
        }
        let waited_us = ctx.stats.now_us().saturating_sub(started_us);
        between.quick = u128::from(waited_us) < QUICK_WAIT.as_micros();
    }
    // Set when the first read is needed: most heads arrive whole, and a
    // clock read per request is worth saving.
    let mut deadline = None;
    let mut scanner = HeadScanner::default();
    loop {
        if scanner.is_fresh() {
            skip_empty_lines(client);
        }
        match scanner.scan(client.buffered()) {
            Scan::Complete { head_len } => return check_complete(&scanner, head_len, &limits),
            Scan::BareLineEnding => return Err(HeadEnd::Reject(Failure::Malformed)),
            Scan::Partial { .. } => check_partial(&scanner, client.buffered(), &limits)?,
        }
        // Checked before the read: a read cut short by the timeout takes the
        // buffer with it.
        let started = !client.buffered().is_empty();
        let deadline = *deadline.get_or_insert_with(|| deadline_after(timeouts.header));
        match timeout_at(deadline, client.fill(limits.max_head_bytes + 1)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadEnd::Closed),
            Ok(Ok(_)) => {}
            Err(_elapsed) if started => return Err(HeadEnd::Reject(Failure::HeadTimedOut)),
            Err(_elapsed) => return Err(HeadEnd::Closed),
        }
    }
}

/// The wait of a kept-alive connection for its next request (or a new
/// one's for its first); `true` once bytes arrived. Asked to give way at
/// the worker's connection cap, or on a drain (stop, upgrade hand-over)
/// when `drain_ends`, it ends only if no request has started to arrive:
/// bytes already there are read and served (the response then says
/// close), never cut off.
async fn wait_between_requests(
    client: &mut Conn,
    ctx: &WorkerCtx,
    wait: Duration,
    between: &mut Between,
    limit: usize,
    drain_ends: bool,
) -> bool {
    let deadline = crate::timer::deadline_after(wait);
    // Whether `wait_idle` resolving ends this wait: always when
    // `drain_ends`; otherwise only while no drain is up (it was a request
    // to give way). Once a drain is up, such a wait runs to its deadline.
    let asked = || drain_ends || !ctx.drain.is_draining();
    let armed = between.quick.then(buffer::try_arm).flatten();
    if armed.is_some() && !client.is_tls() {
        // A posted read (see `Conn::wait_and_fill`), cancelled, not
        // dropped, when asked to end: a read that had completed keeps its
        // bytes.
        let cancel = between
            .canceller
            .get_or_insert_with(Canceller::new)
            .handle();
        let took = {
            let mut read = std::pin::pin!(client.fill_cancelable(limit, cancel));
            loop {
                monoio::select! {
                    read = timeout_at(deadline, &mut read) => return matches!(read, Ok(Ok(n)) if n > 0),
                    _ = ctx.drain.wait_idle(), if asked() => {}
                }
                if asked() {
                    break;
                }
            }
            if let Some(canceller) = between.canceller.take() {
                canceller.cancel();
            }
            matches!(read.await, Ok(n) if n > 0)
        };
        // Cancelled before it took bytes that came meanwhile: they are a
        // request, served as on the readiness path below.
        return took || (client.has_input() && matches!(client.fill(limit).await, Ok(n) if n > 0));
    }
    drop(armed);
    between.canceller = None;
    client.release();
    let ready = loop {
        monoio::select! {
            ready = timeout_at(deadline, client.readable()) => break Some(matches!(ready, Ok(Ok(())))),
            _ = ctx.drain.wait_idle(), if asked() => {}
        }
        if asked() {
            break None;
        }
    };
    // Waiting for readiness holds nothing, so stopping it loses nothing.
    let ready = ready.unwrap_or_else(|| client.has_input());
    ready && matches!(client.fill(limit).await, Ok(n) if n > 0)
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
        return Err(HeadEnd::Reject(Failure::UriTooLong));
    }
    if head_len > limits.max_head_bytes {
        return Err(HeadEnd::Reject(Failure::HeadTooLarge));
    }
    Ok(head_len)
}

pub(crate) fn check_partial(
    scanner: &HeadScanner,
    buffered: &[u8],
    limits: &Limits,
) -> Result<(), HeadEnd> {
    if scanner.first_line_end.is_none() && !could_start_request(buffered) {
        return Err(HeadEnd::Reject(Failure::Malformed));
    }
    let buffered = buffered.len();
    let line_len = scanner.first_line_end.unwrap_or(buffered);
    if line_len > limits.max_request_line_bytes {
        return Err(HeadEnd::Reject(Failure::UriTooLong));
    }
    if buffered > limits.max_head_bytes {
        return Err(HeadEnd::Reject(Failure::HeadTooLarge));
    }
    Ok(())
}
