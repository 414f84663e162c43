//! Process-wide numbers about holding at the edge: panics contained at a
//! connection, the connection cap, descriptor exhaustion. Rare events or
//! set once, so plain atomics (they also survive reloads, unlike the
//! per-generation worker counters).

use std::sync::atomic::{AtomicU64, Ordering};

static PANICS: AtomicU64 = AtomicU64::new(0);
static GENERATIONS: AtomicU64 = AtomicU64::new(0);

/// A panic was contained at a connection task (see `contain`).
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

static CONNECTION_CAP: AtomicU64 = AtomicU64::new(0);
static EXHAUSTIONS: AtomicU64 = AtomicU64::new(0);
static ACCEPT_PAUSES: AtomicU64 = AtomicU64::new(0);
static ACCEPT_SURGES: AtomicU64 = AtomicU64::new(0);

/// The connection cap in force for the process (`[server] max_connections`
/// or derived from the open-files limit, rounded to a multiple of workers).
pub fn set_connection_cap(cap: usize) {
    CONNECTION_CAP.store(cap as u64, Ordering::Relaxed);
}

pub fn connection_cap() -> u64 {
    CONNECTION_CAP.load(Ordering::Relaxed)
}

/// An episode of descriptor exhaustion began (see `rlimit::exhausted`).
pub fn descriptors_exhausted() {
    EXHAUSTIONS.fetch_add(1, Ordering::Relaxed);
}

pub fn exhaustions() -> u64 {
    EXHAUSTIONS.load(Ordering::Relaxed)
}

/// A worker reached its share of the cap and stopped accepting.
pub fn accept_paused() {
    ACCEPT_PAUSES.fetch_add(1, Ordering::Relaxed);
}

pub fn accept_pauses() -> u64 {
    ACCEPT_PAUSES.load(Ordering::Relaxed)
}

/// A listen queue longer than this at a tick brings in surge accepts (why:
/// `worker/accept.rs`, which acts on it).
pub const ACCEPT_SURGE_AT: u64 = 128;

/// A listen queue grew long enough to bring in surge accepts.
pub fn accept_surged() {
    ACCEPT_SURGES.fetch_add(1, Ordering::Relaxed);
}

pub fn accept_surges() -> u64 {
    ACCEPT_SURGES.load(Ordering::Relaxed)
}
