//! Server health shared by the whole process: one flag per distinct server
//! address, written only by the checker thread and read by every worker
//! with relaxed loads (a stale read for a moment is harmless). Servers with
//! the same address in several backends share one flag, which is HAProxy's
//! `track`: the seed-002 set-up checks each Wt server once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// `health_check = { path = "/health", interval = "2s", ... }` on a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub method: String,
    pub path: String,
    /// The Host sent; default the server's address.
    pub host: Option<String>,
    /// Statuses that count as healthy; empty: any 2xx or 3xx.
    pub statuses: Vec<u16>,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive successes that bring a down server up.
    pub rise: u32,
    /// Consecutive failures that take an up server down.
    pub fall: u32,
}

impl HealthCheck {
    pub fn healthy(&self, status: u16) -> bool {
        if self.statuses.is_empty() {
            (200..400).contains(&status)
        } else {
            self.statuses.contains(&status)
        }
    }
}

/// One address to probe, and whose flag it sets.
#[derive(Debug, Clone)]
pub struct Probe {
    pub slot: usize,
    pub address: SocketAddr,
    /// "backend/address", for log lines.
    pub label: String,
    pub check: HealthCheck,
    /// The server's `send_proxy`: checks start with a LOCAL header.
    pub send_proxy: Option<crate::proxy_protocol::Version>,
}

/// Passive checks: `passive = { failures = 3, down_for = "10s" }`. Per
/// worker: each worker counts what it sees and marks servers down for itself.
#[derive(Debug, Clone, Copy)]
pub struct Passive {
    /// Consecutive connect failures or 5xx responses that mark a server down.
    pub failures: u32,
    pub down_for: Duration,
}

/// One address's health: its flag and how often it changed.
#[derive(Debug)]
struct Slot {
    up: AtomicBool,
    /// Up → down or down → up (the status page's "changes" and
    /// `tern_server_state_transitions_total`).
    changes: AtomicU64,
}

/// Every address some plan has a server at, and its health slot. Kept next
/// to the plans, not inside them: a reload's new plan finds the slots of
/// the addresses it keeps here, so health carries over with nothing copied,
/// and the checker's writes reach old and new generations alike. Weak: an
/// address no plan has any more is forgotten with its last plan.
static SLOTS: Mutex<BTreeMap<SocketAddr, Weak<Slot>>> = Mutex::new(BTreeMap::new());

fn fresh_slot() -> Arc<Slot> {
    Arc::new(Slot {
        up: AtomicBool::new(true),
        changes: AtomicU64::new(0),
    })
}

/// The shared slots of `addresses`, made (up, no changes) for those no plan
/// has. One pass under the lock: forgotten addresses are swept once, not
/// per new address (a plan of thousands of discovered servers).
fn slots_of(addresses: &[SocketAddr]) -> Box<[Arc<Slot>]> {
    let Ok(mut slots) = SLOTS.lock() else {
        return addresses.iter().map(|_| fresh_slot()).collect();
    };
    slots.retain(|_, slot| slot.strong_count() > 0);
    let mut slot_of = |address: SocketAddr| {
        if let Some(slot) = slots.get(&address).and_then(Weak::upgrade) {
            return slot;
        }
        let slot = fresh_slot();
        slots.insert(address, Arc::downgrade(&slot));
        slot
    };
    addresses.iter().map(|&a| slot_of(a)).collect()
}

/// A plan's view of the health table: its slots by index (`Server::health`)
/// and the probes that write them.
#[derive(Debug, Default)]
pub struct Health {
    slots: Box<[Arc<Slot>]>,
    pub probes: Vec<Probe>,
}

impl Health {
    /// The slots of `addresses` (one per slot index). An address new to the
    /// process starts up, so a fresh start serves at once and a dead server
    /// goes down after `fall` failed checks; one a running plan has keeps
    /// its state.
    pub fn new(addresses: &[SocketAddr], probes: Vec<Probe>) -> Health {
        Health {
            slots: slots_of(addresses),
            probes,
        }
    }

    pub fn is_up(&self, slot: usize) -> bool {
        self.slots
            .get(slot)
            .is_none_or(|slot| slot.up.load(Ordering::Relaxed))
    }

    /// Sets the flag; a change counts in `changes`.
    pub fn set(&self, slot: usize, up: bool) {
        if let Some(slot) = self.slots.get(slot) {
            if slot.up.swap(up, Ordering::Relaxed) != up {
                slot.changes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn changes(&self, slot: usize) -> u64 {
        self.slots
            .get(slot)
            .map_or(0, |slot| slot.changes.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_with_an_address_share_its_health_and_a_new_one_starts_up() {
        let kept: SocketAddr = "127.0.0.1:60001".parse().expect("addr");
        let added: SocketAddr = "127.0.0.1:60002".parse().expect("addr");
        let old = Health::new(&[kept], Vec::new());
        old.set(0, false);
        let new = Health::new(&[added, kept], Vec::new());
        assert!(new.is_up(0), "an address no plan had starts up");
        assert!(!new.is_up(1), "a kept address stays down");
        assert_eq!(new.changes(1), 1, "and keeps its count of changes");
        new.set(1, true);
        assert!(old.is_up(0), "a check's write reaches the old plan too");
    }
}
