//! How the admin thread asks the workers for their numbers: a channel per
//! worker, which the worker looks at in the loop it already runs (every
//! `STOP_POLL`, 50 ms), answering with a copy made on its own thread. The
//! request path never sees this.

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use crate::metrics::snapshot::{self, ListenerFd};
use crate::metrics::WorkerSnapshot;
use crate::worker_ctx::WorkerCtx;

pub enum Command {
    Snapshot(Sender<WorkerSnapshot>),
}

/// A worker's end.
pub struct Inbox {
    commands: Receiver<Command>,
    listener_fds: Vec<ListenerFd>,
}

impl Inbox {
    /// The worker's listening sockets, for their accept queue lengths.
    pub fn set_listeners(&mut self, fds: Vec<ListenerFd>) {
        self.listener_fds = fds;
    }

    /// Answers whatever was asked since the last look.
    pub fn answer(&self, ctx: &WorkerCtx) {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Snapshot(reply) => {
                    let _ = reply.send(snapshot::take(ctx, &self.listener_fds));
                }
            }
        }
    }
}

/// The admin thread's end: one sender per worker.
pub struct Workers {
    links: Vec<Sender<Command>>,
}

pub fn channels(workers: usize) -> (Workers, Vec<Inbox>) {
    let (links, inboxes) = (0..workers)
        .map(|_| {
            let (tx, rx) = mpsc::channel();
            let inbox = Inbox {
                commands: rx,
                listener_fds: Vec::new(),
            };
            (tx, inbox)
        })
        .unzip();
    (Workers { links }, inboxes)
}

impl Workers {
    pub fn count(&self) -> usize {
        self.links.len()
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
