//! Server health shared by the whole process: one flag per distinct server
//! address, written only by the checker thread and read by every worker
//! with relaxed loads (a stale read for a moment is harmless). Servers with
//! the same address in several backends share one flag, which is HAProxy's
//! `track`: the seed-002 set-up checks each Wt server once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
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
    pub probes: Vec<Probe>,
}

impl Health {
    /// Every slot starts up, so a fresh start serves at once; a dead server
    /// goes down after `fall` failed checks.
    pub fn new(slots: usize, probes: Vec<Probe>) -> Health {
        Health {
            up: (0..slots).map(|_| AtomicBool::new(true)).collect(),
            probes,
        }
    }

    pub fn is_up(&self, slot: usize) -> bool {
        self.up
            .get(slot)
            .is_none_or(|up| up.load(Ordering::Relaxed))
    }

    pub fn set(&self, slot: usize, up: bool) {
        if let Some(flag) = self.up.get(slot) {
            flag.store(up, Ordering::Relaxed);
        }
    }
}
