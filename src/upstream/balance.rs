//! Choosing a server of a backend. Each worker keeps its own rotation, so no
//! state is shared between cores.

use std::cell::Cell;

use crate::config::Backend;

pub struct RoundRobin {
    next: Vec<Cell<usize>>,
}

impl RoundRobin {
    pub fn new(backend_count: usize) -> Self {
        RoundRobin {
            next: (0..backend_count).map(|_| Cell::new(0)).collect(),
        }
    }

    /// The servers of `backend` in the order to try them for one request:
    /// starting at the next in rotation, then the others in turn.
    pub fn order(&self, backend_index: usize, backend: &Backend) -> impl Iterator<Item = usize> {
        let count = backend.servers.len();
        let cell = &self.next[backend_index];
        let first = cell.get() % count;
        cell.set(first + 1);
        (0..count).map(move |i| (first + i) % count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Server, UpstreamTimeouts};
    use std::time::Duration;

    fn backend(n: usize) -> Backend {
        let t = Duration::from_secs(1);
        Backend {
            name: "b".into(),
            servers: (0..n)
                .map(|id| Server {
                    id,
                    address: ([127, 0, 0, 1], 1000 + id as u16).into(),
                })
                .collect(),
            timeouts: UpstreamTimeouts {
                connect: t,
                server: t,
                tunnel: t,
            },
        }
    }

    #[test]
    fn rotates_through_the_servers() {
        let b = backend(3);
        let rr = RoundRobin::new(1);
        let firsts: Vec<usize> = (0..6).filter_map(|_| rr.order(0, &b).next()).collect();
        assert_eq!(firsts, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn order_covers_every_server_once() {
        let b = backend(3);
        let rr = RoundRobin::new(1);
        rr.order(0, &b).for_each(drop);
        assert_eq!(rr.order(0, &b).collect::<Vec<_>>(), vec![1, 2, 0]);
    }
}
