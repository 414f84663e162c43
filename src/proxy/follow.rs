//! A connection moving to the newest plan when its next request starts (see
//! `worker_ctx`): requests in flight during a reload finish on the plan they
//! began with; the next one on the same connection uses the new plan.

use std::rc::Rc;

use crate::listen::ListenerInfo;
use crate::worker_ctx::WorkerCtx;

/// Moves `ctx` and `listener` to the newest generation, if a reload
/// replaced the one held and kept the listener. Costs one `RefCell` look
/// when nothing changed.
pub fn follow_reload(ctx: &mut Rc<WorkerCtx>, listener: &mut Rc<ListenerInfo>) {
    if let Some(newest) = ctx.newest() {
        if let Some(info) = newest.listener_at(listener.addr) {
            *listener = info;
            *ctx = newest;
        }
    }
}

/// A reload removed the connection's listener: its open connections finish
/// the request in flight, then close.
pub fn listener_removed(ctx: &WorkerCtx, listener: &ListenerInfo) -> bool {
    ctx.newest()
        .is_some_and(|newest| newest.listener_at(listener.addr).is_none())
}
