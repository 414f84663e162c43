//! Upstream failures in the error log, at warn: which server failed, for
//! which backend and route, and why. An operator needs these to see a
//! backend going bad, but a dead backend fails every request sent to it, so
//! each worker writes at most one line per server every `QUIET` and says in
//! the next one how many it left out.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::prepare::Prepared;
use crate::config::Server;
use crate::worker_ctx::WorkerCtx;

/// The shortest gap between two lines about one server (per worker).
const QUIET: Duration = Duration::from_secs(10);
/// Servers remembered per worker; past it the memory starts over, which at
/// worst lets one extra line per server through.
const REMEMBERED: usize = 4096;

struct Window {
    quiet_until: Instant,
    left_out: u64,
}

thread_local! {
    /// Keyed by address, so the window survives a reload renumbering servers.
    static WINDOWS: RefCell<HashMap<SocketAddr, Window>> = RefCell::new(HashMap::new());
}

/// Logs that `server` failed `req` because of `cause`, unless a line about
/// the server was written less than `QUIET` ago.
pub fn upstream_failed(ctx: &WorkerCtx, req: &Prepared, server: &Server, cause: &dyn Display) {
    if !crate::log::enabled(crate::log::Level::Warn) {
        return;
    }
    let Some(left_out) = admit(server.address, Instant::now()) else {
        return;
    };
    let backend = ctx.plan.backends.get(req.backend).map_or("-", |b| &b.name);
    let route = ctx
        .plan
        .routes
        .get(req.meter.route())
        .map_or("-", |r| &r.name);
    let more = match left_out {
        0 => String::new(),
        n => format!(" ({n} more failures of this server not logged)"),
    };
    crate::log::warn(format_args!(
        "upstream failed: server={} backend={backend} route={route}: {cause}{more}",
        server.label
    ));
}

/// `Some(failures left out since the last line)` when a line may be written.
fn admit(address: SocketAddr, now: Instant) -> Option<u64> {
    WINDOWS.with(|windows| {
        let mut windows = windows.borrow_mut();
        if windows.len() >= REMEMBERED && !windows.contains_key(&address) {
            windows.clear();
        }
        let window = windows.entry(address).or_insert(Window {
            quiet_until: now,
            left_out: 0,
        });
        if now < window.quiet_until {
            window.left_out += 1;
            return None;
        }
        window.quiet_until = now + QUIET;
        Some(std::mem::take(&mut window.left_out))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_server_per_quiet_period_then_the_count() {
        let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let b: SocketAddr = "127.0.0.1:2".parse().expect("addr");
        let start = Instant::now();
        assert_eq!(admit(a, start), Some(0));
        assert_eq!(admit(a, start), None);
        assert_eq!(admit(a, start + QUIET / 2), None);
        assert_eq!(
            admit(b, start),
            Some(0),
            "another server has its own window"
        );
        assert_eq!(admit(a, start + QUIET), Some(2));
    }
}
