//! The cost of one `rate_limit` check, the work a limited route adds to a
//! request (a route without a limit adds one `Option` test). Not a
//! benchmark against anything: run it optimised for time, or under
//! `valgrind --tool=callgrind` for an instruction count that other load on
//! the machine does not change (run with two counts and take the
//! difference, which cancels the start-up):
//!
//! ```text
//! cargo run --example limit_cost --config profile.dev.package.tern.opt-level=3 -- 1000000
//! valgrind --tool=callgrind ./target/debug/examples/limit_cost 100000 1
//! ```
//!
//! Arguments: checks per run (default 1 000 000), and clients (default
//! 10 000 distinct IPv4 addresses, the table's usual state; 1 is one hot
//! entry). A second line runs two threads on one client, the worst case
//! for the bucket's lock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern::limits::rate::{RateLimit, RateSettings};

fn main() {
    let mut args = std::env::args().skip(1);
    let checks: u32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let clients: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let limit = Arc::new(RateLimit::new(RateSettings {
        requests: 1_000_000,
        per: Duration::from_secs(1),
        burst: 1_000_000,
        ipv6_prefix: 64,
    }));
    let (allowed, took) = run(&limit, checks, clients.max(1));
    println!(
        "{checks} checks over {clients} clients: {allowed} allowed, {:.1} ns per check",
        took.as_nanos() as f64 / f64::from(checks.max(1))
    );
    if clients > 1 {
        let two: Vec<_> = (0..2)
            .map(|_| {
                let limit = limit.clone();
                std::thread::spawn(move || run(&limit, checks / 2, 1).1)
            })
            .collect();
        let slowest = two.into_iter().filter_map(|t| t.join().ok()).max();
        if let Some(took) = slowest {
            println!(
                "2 threads on one client: {:.1} ns per check",
                took.as_nanos() as f64 / f64::from((checks / 2).max(1))
            );
        }
    }
}

fn run(limit: &RateLimit, checks: u32, clients: u32) -> (u32, Duration) {
    let started = Instant::now();
    let mut allowed = 0;
    for i in 0..checks {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i % clients));
        allowed += u32::from(limit.check(std::hint::black_box(ip)).is_ok());
    }
    (allowed, started.elapsed())
}
