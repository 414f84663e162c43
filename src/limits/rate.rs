//! `rate_limit = { requests, per, burst }` on a route: the generic cell rate
//! algorithm (GCRA), which is a token bucket kept as one number per client,
//! the time at which its bucket would be full again ("theoretical arrival
//! time"). One request costs `per / requests`; a client may run ahead of
//! that pace by `burst` requests, so a fresh client gets `1 + burst` at once
//! (nginx `limit_req rate=... burst=... nodelay`).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::clock::now_ns;
use super::table::Table;

/// The settings of a route's limit, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSettings {
    pub requests: u64,
    pub per: Duration,
    pub burst: u64,
    pub ipv6_prefix: u8,
}

pub struct RateLimit {
    pub settings: RateSettings,
    /// Nanoseconds one request costs.
    interval: u64,
    /// How far ahead of the pace a client may be.
    tolerance: u64,
    table: Table,
    /// Requests refused, for /metrics.
    refused: AtomicU64,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("settings", &self.settings)
            .finish()
    }
}

impl RateLimit {
    pub fn new(settings: RateSettings) -> RateLimit {
        let per = u64::try_from(settings.per.as_nanos()).unwrap_or(u64::MAX);
        let interval = (per / settings.requests.max(1)).max(1);
        RateLimit {
            settings,
            interval,
            tolerance: interval.saturating_mul(settings.burst),
            table: Table::new(),
            refused: AtomicU64::new(0),
        }
    }

    /// `Ok` if the client may go on; else the whole seconds until it may
    /// (at least 1), for `Retry-After`.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.check_at(ip, now_ns())
    }

    /// `check` at `now` (nanoseconds on `clock::now_ns`'s scale).
    fn check_at(&self, ip: IpAddr, now: u64) -> Result<(), u64> {
        let key = super::client_key(ip, self.settings.ipv6_prefix);
        let verdict = self.table.with(key, |due| {
            let start = (*due).max(now);
            let ahead = start - now;
            if ahead > self.tolerance {
                return Err(ahead - self.tolerance);
            }
            *due = start.saturating_add(self.interval);
            Ok(())
        });
        verdict.map_err(|wait_ns| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            wait_ns.div_ceil(1_000_000_000).max(1)
        })
    }

    /// Requests refused since the limit was made.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(requests: u64, per: Duration, burst: u64) -> RateLimit {
        RateLimit::new(RateSettings {
            requests,
            per,
            burst,
            ipv6_prefix: 64,
        })
    }

    #[test]
    fn a_fresh_client_gets_one_plus_burst_at_once() {
        let limit = limit(1, Duration::from_secs(3600), 2);
        let ip = "192.0.2.1".parse().expect("ip");
        assert_eq!(limit.check(ip), Ok(()));
        assert_eq!(limit.check(ip), Ok(()));
        assert_eq!(limit.check(ip), Ok(()));
        let wait = limit.check(ip).expect_err("over the limit");
        assert!((3599..=3600).contains(&wait), "retry after {wait}");
        assert_eq!(limit.refused(), 1);
        // Another client is not affected.
        assert_eq!(limit.check("192.0.2.2".parse().expect("ip")), Ok(()));
    }

    #[test]
    fn the_pace_comes_back() {
        // Times given, not slept: a loaded machine can't make it flaky.
        let limit = limit(1000, Duration::from_secs(1), 0);
        let ip = "2001:db8::1".parse().expect("ip");
        let start = 1_000_000_000;
        assert_eq!(limit.check_at(ip, start), Ok(()));
        // The same /64, half a request's interval later: refused.
        let neighbour = "2001:db8::2".parse().expect("ip");
        assert_eq!(limit.check_at(neighbour, start + 500_000), Err(1));
        assert_eq!(limit.check_at(ip, start + 1_000_000), Ok(()));
    }
}
