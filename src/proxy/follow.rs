//! A connection moving to the newest plan when its next request starts (see
//! `worker_ctx`): requests in flight during a reload finish on the plan they
//! began with; the next one on the same connection uses the new plan.

use std::rc::Rc;

use super::ListenerInfo;
use crate::worker_ctx::WorkerCtx;

/// Whether the connection may stay open after this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Kept,
    /// The reload removed the connection's listener: the request is
    /// answered on the old plan, then the connection closes.
    Removed,
}

/// Moves `ctx` and `listener` to the newest generation, if a reload
/// replaced the one held. Costs one `RefCell` look when nothing changed.
pub fn follow_reload(ctx: &mut Rc<WorkerCtx>, listener: &mut Rc<ListenerInfo>) -> Listener {
    let Some(newest) = ctx.newest() else {
        return Listener::Kept;
    };
    match newest.listener_at(listener.addr) {
        Some(info) => {
            *listener = info;
            *ctx = newest;
            Listener::Kept
        }
        None => Listener::Removed,
    }
}
