//! Server health shared by the whole process: one flag per distinct server
//! address, written only by the checker thread and read by every worker
//! with relaxed loads (a stale read for a moment is harmless). Servers with
//! the same address in several backends share one flag, which is HAProxy's
//! `track`: the seed-002 set-up checks each Wt server once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

#[derive(Debug, Default)]
pub struct Health {
    up: Box<[AtomicBool]>,
    /// Per slot: how often it went up → down or down → up (the status
    /// page's "changes" and `tern_server_state_transitions_total`).
    changes: Box<[AtomicU64]>,
    pub probes: Vec<Probe>,
}

impl Health {
    /// Every slot starts up, so a fresh start serves at once; a dead server
    /// goes down after `fall` failed checks.
    pub fn new(slots: usize, probes: Vec<Probe>) -> Health {
        Health {
            up: (0..slots).map(|_| AtomicBool::new(true)).collect(),
            changes: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            probes,
        }
    }

    pub fn is_up(&self, slot: usize) -> bool {
        self.up
            .get(slot)
            .is_none_or(|up| up.load(Ordering::Relaxed))
    }

    /// Sets the flag; a change counts in `changes`.
    pub fn set(&self, slot: usize, up: bool) {
        if let Some(flag) = self.up.get(slot) {
            if flag.swap(up, Ordering::Relaxed) != up {
                if let Some(count) = self.changes.get(slot) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    pub fn changes(&self, slot: usize) -> u64 {
        self.changes
            .get(slot)
            .map_or(0, |count| count.load(Ordering::Relaxed))
    }

    /// A reload: `slot` goes on from `from`'s slot, flag and count, without
    /// that being a change.
    pub fn carry(&self, slot: usize, from: &Health, from_slot: usize) {
        if let (Some(flag), Some(count)) = (self.up.get(slot), self.changes.get(slot)) {
            flag.store(from.is_up(from_slot), Ordering::Relaxed);
            count.store(from.changes(from_slot), Ordering::Relaxed);
        }
    }
}
