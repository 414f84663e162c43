//! Choosing among the usable servers of a backend. Each worker keeps its own
//! state per backend (`Cell`s), so nothing is shared between cores; see the
//! README on what that means for fairness.

use std::cell::Cell;

use super::backend::Server;
use super::hash::score;
use super::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round robin (nginx's): weights honoured exactly,
    /// picks of one server spread out rather than in bursts.
    RoundRobin,
    /// Fewest requests in flight on this worker, relative to weight.
    LeastConn,
    /// Two weighted random picks, the less loaded wins.
    RandomTwo,
    /// Rendezvous hash of the client address.
    SourceHash,
    /// Rendezvous hash of the path.
    UriHash,
}

impl Balance {
    pub fn hashes(self) -> bool {
        matches!(self, Balance::SourceHash | Balance::UriHash)
    }
}

/// What a choice may look at: which positions are usable now, and how
/// many requests each has in flight on this worker.
pub struct View<'a> {
    pub servers: &'a [Server],
    pub usable: &'a dyn Fn(usize) -> bool,
    pub load: &'a dyn Fn(usize) -> u32,
}

/// One backend's balancing state on one worker.
pub struct BalanceState {
    /// Smooth weighted round robin's current weight, per position.
    current: Vec<Cell<i64>>,
    /// Where least_conn starts looking, so ties rotate.
    cursor: Cell<usize>,
}

impl BalanceState {
    /// `stagger` (the worker id) advances the rotation so that workers
    /// don't all start on the same server.
    pub fn new(servers: &[Server], stagger: usize) -> BalanceState {
        let state = BalanceState {
            current: servers.iter().map(|_| Cell::new(0)).collect(),
            cursor: Cell::new(stagger),
        };
        let view = View {
            servers,
            usable: &|_| true,
            load: &|_| 0,
        };
        for _ in 0..stagger % servers.len().max(1) {
            state.smooth_weighted(&view);
        }
        state
    }

    /// A usable position, or `None` when no server is usable.
    pub fn choose(&self, balance: Balance, view: &View, key: u64, rng: &Rng) -> Option<usize> {
        match balance {
            Balance::RoundRobin => self.smooth_weighted(view),
            Balance::LeastConn => self.least_conn(view),
            Balance::RandomTwo => random_two(view, rng),
            Balance::SourceHash | Balance::UriHash => rendezvous(view, key),
        }
    }

    fn smooth_weighted(&self, view: &View) -> Option<usize> {
        let mut total: i64 = 0;
        let mut best: Option<usize> = None;
        for (pos, server) in view.servers.iter().enumerate() {
            if !(view.usable)(pos) {
                continue;
            }
            let weight = i64::from(server.weight);
            let current = &self.current[pos];
            current.set(current.get() + weight);
            total += weight;
            if best.is_none_or(|b| current.get() > self.current[b].get()) {
                best = Some(pos);
            }
        }
        let best = best?;
        let current = &self.current[best];
        current.set(current.get() - total);
        Some(best)
    }

    fn least_conn(&self, view: &View) -> Option<usize> {
        let count = view.servers.len();
        let start = self.cursor.get() % count.max(1);
        self.cursor.set(start + 1);
        (0..count)
            .map(|i| (start + i) % count)
            .filter(|&pos| (view.usable)(pos))
            .min_by(|&a, &b| relative_load(view, a).cmp(&relative_load(view, b)))
    }
}

/// In flight, counting the new request half, per unit of weight (fixed
/// point): among idle servers the heavier one wins, as in HAProxy.
fn relative_load(view: &View, pos: usize) -> u64 {
    let weight = u64::from(view.servers[pos].weight.max(1));
    (u64::from((view.load)(pos)) * 1_000_000 + 500_000) / weight
}

/// The draws are already weighted, so only the load decides between them;
/// on a tie the first draw stands, which keeps idle picks proportional to
/// weight.
fn random_two(view: &View, rng: &Rng) -> Option<usize> {
    let first = weighted_random(view, rng)?;
    let second = weighted_random(view, rng)?;
    let load = |pos: usize| {
        u64::from((view.load)(pos)) * 1_000_000 / u64::from(view.servers[pos].weight.max(1))
    };
    if load(second) < load(first) {
        Some(second)
    } else {
        Some(first)
    }
}

fn weighted_random(view: &View, rng: &Rng) -> Option<usize> {
    let usable = |pos: &usize| (view.usable)(*pos);
    let total: u64 = (0..view.servers.len())
        .filter(usable)
        .map(|pos| u64::from(view.servers[pos].weight))
        .sum();
    if total == 0 {
        return None;
    }
    let mut ticket = rng.below(total);
    for pos in (0..view.servers.len()).filter(usable) {
        let weight = u64::from(view.servers[pos].weight);
        if ticket < weight {
            return Some(pos);
        }
        ticket -= weight;
    }
    None
}

fn rendezvous(view: &View, key: u64) -> Option<usize> {
    (0..view.servers.len())
        .filter(|&pos| (view.usable)(pos))
        .map(|pos| {
            let server = &view.servers[pos];
            (pos, score(key, server.hash, server.weight))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(pos, _)| pos)
}

#[cfg(test)]
mod tests;
