//! How the admin thread asks the workers for their numbers, and the main
//! thread hands them a new plan on a reload: a channel per
//! worker, which the worker looks at in the loop it already runs (every
//! `STOP_POLL`, 50 ms), answering with a copy made on its own thread. The
//! request path never sees this.

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use std::rc::Rc;

use crate::metrics::WorkerSnapshot;
use crate::worker::reload::Order;
use crate::worker::Worker;

pub enum Command {
    Snapshot(Sender<WorkerSnapshot>),
    /// From the main thread: switch to a new plan.
    Reload(Box<Order>),
}

/// A worker's end.
pub struct Inbox {
    commands: Receiver<Command>,
}

impl Inbox {
    /// Answers whatever was asked since the last look.
    pub fn answer(&self, worker: &Rc<Worker>) {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Snapshot(reply) => {
                    let _ = reply.send(worker.snapshot());
                }
                Command::Reload(order) => worker.reload(*order),
            }
        }
    }
}

/// The other end, held by the main thread (reloads) and the admin thread
/// (numbers): one sender per worker.
#[derive(Clone)]
pub struct Workers {
    links: Vec<Sender<Command>>,
}

pub fn channels(workers: usize) -> (Workers, Vec<Inbox>) {
    let (links, inboxes) = (0..workers)
        .map(|_| {
            let (tx, rx) = mpsc::channel();
            let inbox = Inbox { commands: rx };
            (tx, inbox)
        })
        .unzip();
    (Workers { links }, inboxes)
}

impl Workers {
    pub fn count(&self) -> usize {
        self.links.len()
    }

    /// Sends each worker its order (by position); how many were sent.
    pub fn send_each(&self, orders: Vec<Order>) -> usize {
        let mut sent = 0;
        for (link, order) in self.links.iter().zip(orders) {
            if link.send(Command::Reload(Box::new(order))).is_ok() {
                sent += 1;
            }
        }
        sent
    }

    /// Every worker's copy that arrives within `wait` (a worker that is
    /// stopping answers no more).
    pub fn collect(&self, wait: Duration) -> Vec<WorkerSnapshot> {
        let (reply, replies) = mpsc::channel();
        let asked = self
            .links
            .iter()
            .filter(|link| link.send(Command::Snapshot(reply.clone())).is_ok())
            .count();
        drop(reply);
        let deadline = Instant::now() + wait;
        let mut snapshots = Vec::with_capacity(asked);
        while snapshots.len() < asked {
            let left = deadline.saturating_duration_since(Instant::now());
            match replies.recv_timeout(left) {
                Ok(snapshot) => snapshots.push(snapshot),
                Err(_) => break,
            }
        }
        snapshots
    }
}
