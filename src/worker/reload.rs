//! A worker taking a new plan: the main thread sends an order through the
//! worker's inbox; the worker, on its own thread, starts the next
//! generation, moves its idle upstream connections over, starts and stops
//! accept loops, and says when it is done.

use std::rc::Rc;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use super::{Stop, Worker};
use crate::config::Plan;
use crate::listen::Bound;
use crate::listen::ListenerInfo;
use crate::upstream::server_state::ServerStates;

/// What one worker needs to switch to a new plan.
pub struct Order {
    pub plan: Arc<Plan>,
    pub server_states: Arc<ServerStates>,
    /// Per server id of the plan being replaced: the id of the server with
    /// the same address in the new plan (its idle connections carry over).
    pub pool_ids: Vec<Option<usize>>,
    /// Listeners this worker already accepts on that the new plan keeps,
    /// by bound address, with their place in the new plan.
    pub kept: Vec<ListenerInfo>,
    /// Sockets bound for listeners the new plan adds.
    pub added: Vec<Bound>,
    /// Told the worker id once the worker runs the new plan.
    pub done: Sender<usize>,
}

impl Worker {
    /// Switches to the order's plan. Requests in flight keep the
    /// generation they hold; see `proxy::follow`.
    pub fn reload(self: &Rc<Self>, order: Order) {
        self.update_listeners(&order.kept);
        for bound in order.added {
            self.listen(bound);
        }
        let old = self.current();
        let next = Rc::new(old.next_generation(order.plan, order.server_states));
        old.pool.forward_to(&next.pool, order.pool_ids);
        // Counters go on from where they were (Prometheus counters never go down).
        let rows = crate::metrics::carry::Rows::between(&old.plan, &next.plan);
        next.stats.take_counts(&old.stats, &rows);
        old.set_newest(&next);
        self.retire(&old);
        *self.current.borrow_mut() = next;
        self.publish_listeners();
        let _ = order.done.send(self.id);
    }

    /// Renumbers kept listeners; stops those the new plan dropped (their
    /// open connections finish).
    fn update_listeners(&self, kept: &[ListenerInfo]) {
        self.listening
            .borrow_mut()
            .retain(|slot| !slot.is_stopped());
        for slot in self.listening.borrow().iter() {
            let addr = slot.info().addr;
            match kept.iter().find(|k| k.addr == addr) {
                Some(kept) => slot.set_info(Rc::new(kept.clone())),
                None => slot.stop(Stop::Close),
            }
        }
    }
}
