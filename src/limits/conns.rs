//! `max_connections_per_client` on a listener: connections open per client
//! key, across every worker. A connection over the limit is closed before
//! a byte is read (HAProxy's `tcp-request connection reject` on
//! `src_conn_cur`); the count is given back when the connection ends.
//!
//! Under a flood of more distinct clients than one bucket of the table
//! holds, a client's count can be evicted; that client may then open up to
//! the limit again (the table fails open rather than refusing strangers).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::table::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnSettings {
    pub max: u64,
    pub ipv6_prefix: u8,
}

pub struct ConnLimit {
    pub settings: ConnSettings,
    table: Table,
    /// Connections refused, for /metrics.
    refused: AtomicU64,
}

impl std::fmt::Debug for ConnLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnLimit")
            .field("settings", &self.settings)
            .finish()
    }
}

/// One counted connection; gives its count back when dropped. Holds the
/// limit itself, so a reload that replaces the plan doesn't lose the count.
pub struct ConnSlot {
    limit: Arc<ConnLimit>,
    /// The client key, split: a u128 would align (and grow) the
    /// connection's future to 16 bytes.
    key: [u64; 2],
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.limit.table.with_existing(
            u128::from(self.key[0]) << 64 | u128::from(self.key[1]),
            |open| *open = open.saturating_sub(1),
        );
    }
}

impl ConnLimit {
    pub fn new(settings: ConnSettings) -> ConnLimit {
        ConnLimit {
            settings,
            table: Table::new(),
            refused: AtomicU64::new(0),
        }
    }

    /// Counts a connection of `ip` in, or `None` when the client already
    /// has `max` open.
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<ConnSlot> {
        let key = super::client_key(ip, self.settings.ipv6_prefix);
        let admitted = self.table.with(key, |open| {
            let admitted = *open < self.settings.max;
            if admitted {
                *open += 1;
            }
            admitted
        });
        if !admitted {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(ConnSlot {
            limit: self.clone(),
            key: [(key >> 64) as u64, key as u64],
        })
    }

    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_client_and_gives_back() {
        let limit = Arc::new(ConnLimit::new(ConnSettings {
            max: 2,
            ipv6_prefix: 64,
        }));
        let ip: IpAddr = "198.51.100.7".parse().expect("ip");
        let first = limit.enter(ip).expect("first");
        let _second = limit.enter(ip).expect("second");
        assert!(limit.enter(ip).is_none());
        assert!(limit.enter("198.51.100.8".parse().expect("ip")).is_some());
        drop(first);
        assert!(limit.enter(ip).is_some());
        assert_eq!(limit.refused(), 1);
    }
}
