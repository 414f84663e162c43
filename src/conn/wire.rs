//! Bytes moved on the wire, per worker, by side (client or upstream) and
//! direction. Counted where `Conn` reads and writes, which has no worker
//! context at hand, so the counters are thread-locals like the buffer pool:
//! each worker thread has its own, and no core writes another's.

use std::cell::Cell;

/// Index into the counters: `side * 2 + direction`.
#[derive(Clone, Copy)]
pub enum Flow {
    ClientIn = 0,
    ClientOut = 1,
    UpstreamIn = 2,
    UpstreamOut = 3,
}

pub const FLOW_LABELS: [(&str, &str); 4] = [
    ("client", "in"),
    ("client", "out"),
    ("upstream", "in"),
    ("upstream", "out"),
];

thread_local! {
    static BYTES: [Cell<u64>; 4] = const {
        [Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0)]
    };
}

/// Bytes read on a connection: `client` says which side it is.
pub fn read(client: bool, n: usize) {
    add(
        if client {
            Flow::ClientIn
        } else {
            Flow::UpstreamIn
        },
        n,
    );
}

/// Bytes written on a connection.
pub fn written(client: bool, n: usize) {
    add(
        if client {
            Flow::ClientOut
        } else {
            Flow::UpstreamOut
        },
        n,
    );
}

fn add(flow: Flow, n: usize) {
    BYTES.with(|bytes| {
        let cell = &bytes[flow as usize];
        cell.set(cell.get() + n as u64);
    });
}

/// This thread's totals, in `FLOW_LABELS` order.
pub fn totals() -> [u64; 4] {
    BYTES.with(|bytes| bytes.each_ref().map(Cell::get))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_count_on_their_side() {
        let before = totals();
        read(true, 10);
        written(true, 20);
        read(false, 30);
        written(false, 40);
        let after = totals();
        let moved: Vec<u64> = (0..4).map(|i| after[i] - before[i]).collect();
        assert_eq!(moved, vec![10, 20, 30, 40]);
    }
}
