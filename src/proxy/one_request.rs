//! One request for a driver other than the HTTP/1.1 session (an HTTP/2
//! stream): the same `prepare` (parse, route, limits), then tern's own
//! answer, a static reply or the exchange, through its `Downstream`.
//!
//! `head` is the request as an HTTP/1.1 head (the driver translated it,
//! and it is freed before the exchange waits);
//! the body, if any, comes from the `Downstream`.

use std::future::Future;

use super::answer::log_refusal;
use super::exchange;
use super::prepare::{prepare, Outcome, Peer, Step};
use super::static_open;
use crate::conn::downstream::Downstream;
use crate::http::status::{error_response, status_of_response};
use crate::worker_ctx::WorkerCtx;

/// Not `async fn`: its arguments would be held twice while a stream waits
/// upstream (as passed, and moved into the body).
#[allow(clippy::manual_async_fn)] // on purpose, as said above
pub(crate) fn serve<'a, C: Downstream>(
    client: &'a mut C,
    head: Vec<u8>,
    peer: &'a Peer<'_>,
    ctx: &'a WorkerCtx,
) -> impl Future<Output = ()> + 'a {
    async move {
        let listener = peer.listener;
        let mut prepared = match prepare(&head, peer, ctx) {
            Ok(Step::Ready(outcome)) => Ok(outcome),
            Ok(Step::Opening(opening)) => {
                Box::pin(static_open::settle(opening, &head, peer, ctx)).await
            }
            Err(failure) => Err(failure),
        };
        if let Err(failure) = &prepared {
            log_refusal(ctx, &head, peer.addr(), *failure);
        }
        // Not held while the request waits upstream (a long-poll, for minutes):
        // `prepare` made the upstream's own copy.
        drop(head);
        match prepared {
            // Borrowed: the request stays in this one place while it waits
            // upstream.
            Ok(Outcome::Proxy(ref mut req)) => {
                exchange::proxy(client, req, ctx).await;
            }
            Ok(Outcome::Answer { response, .. }) => {
                let status = status_of_response(&response);
                ctx.stats
                    .answered_locally_over(listener, status, peer.http2);
                let _ = client.write_owned(response).await;
            }
            Ok(Outcome::Static { reply, .. }) => {
                // Boxed: a file's send (its state, a compressor's) would
                // otherwise lie in every stream's future, a held long-poll's too.
                let wait = ctx.plan.client_timeouts.inflight;
                Box::pin(crate::files::send(client, reply, wait)).await;
            }
            Err(failure) => {
                ctx.stats
                    .answered_locally_over(listener, failure.status(), peer.http2);
                let response = error_response(failure.status(), false);
                let _ = client.write_owned(response).await;
            }
        }
    }
}
