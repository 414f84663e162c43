//! A static answer that waits for a file whose lookup needs the disk
//! (`files::opened`): the file is opened off the worker, then the request
//! answered again, until the answer is ready. Both drivers of a request
//! (the HTTP/1.1 session, an HTTP/2 stream) call it when `prepare` says
//! `Step::Opening`; the request's head must be kept until it returns.

use super::prepare::{answer_static_again, Opening, Outcome, Peer, Step};
use crate::failure::Failure;
use crate::worker_ctx::WorkerCtx;

/// The outcome of the request in `head`, once every file its answer waits
/// for is open.
pub async fn settle(
    mut opening: Box<Opening>,
    head: &[u8],
    peer: &Peer<'_>,
    ctx: &WorkerCtx,
) -> Result<Outcome, Failure> {
    loop {
        opening.open_missing().await;
        match answer_static_again(head, peer, ctx, *opening)? {
            Step::Ready(outcome) => return Ok(outcome),
            Step::Opening(next) => opening = next,
        }
    }
}
