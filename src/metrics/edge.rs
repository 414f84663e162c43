//! Process-wide numbers about holding at the edge: panics contained at a
//! connection, the connection cap, descriptor exhaustion. Rare events or
//! set once, so plain atomics (they also survive reloads, unlike the
//! per-generation worker counters).

use std::sync::atomic::{AtomicU64, Ordering};

static PANICS: AtomicU64 = AtomicU64::new(0);
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

/// A panic was contained at a connection task (see `worker::contain`).
pub fn panicked() {
    PANICS.fetch_add(1, Ordering::Relaxed);
}

pub fn panics() -> u64 {
    PANICS.load(Ordering::Relaxed)
}

/// Counts one worker generation (`WorkerCtx`) as live until dropped: how
/// many plans long-lived connections pin.
pub struct Generation(());

impl Generation {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        GENERATIONS.fetch_add(1, Ordering::Relaxed);
        Generation(())
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        GENERATIONS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Worker generations alive, over all workers.
pub fn generations() -> u64 {
    GENERATIONS.load(Ordering::Relaxed)
}
