//! `tern-loadtest soak`: every kind of trouble at once, for minutes, while
//! tern's memory and descriptors are watched for leaks.
//!
//! One process (one monoio runtime) drives keep-alive and new-connection
//! GETs, chunked POSTs, held long-polls with publishes, WebSockets, clients
//! that abandon long-polls, and slowloris connections against tern. A
//! conductor thread runs the origin behind tern, killing and restarting it
//! every minute, and makes tern reload every 30 s. Every 10 s it prints
//! tern's RSS and descriptors; at the end, failures by cause and a verdict.
//! Failures of exchanges under way while the origin restarts are expected
//! (the application was gone) and listed apart; any other fails the soak.

mod conductor;
mod exchange;
mod held;
mod ledger;
mod requests;
mod samples;
mod scrape;
mod settings;
mod slowloris;
mod ws;

use ledger::{Disruption, Ledger};
use settings::Settings;
use std::io::Write;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// What the publisher sends and every long-poll must receive.
pub const MESSAGE: &str = "soak delivery";

/// What every client task sees.
pub struct Shared {
    pub s: Settings,
    pub ledger: Ledger,
}

/// Counts a connection as held by a client kind while it lives.
pub struct Held {
    shared: Rc<Shared>,
    kind: &'static str,
}

impl Held {
    pub fn new(sh: &Rc<Shared>, kind: &'static str) -> Held {
        sh.ledger.hold(kind, 1);
        Held {
            shared: sh.clone(),
            kind,
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.shared.ledger.hold(self.kind, -1);
    }
}

pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let s = Settings::parse(args)?;
    crate::net::raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    let disruption = Arc::new(Disruption::default());
    let started = Instant::now();
    let end = started + s.duration;
    println!(
        "soak: {} s against tern {} (pid {}); origin {} restarted every {} s; reload every {} s; \
         {} long-polls, {} WebSockets, {} slowloris, {} abandoning, {}x3 request clients at {}/s",
        s.duration.as_secs(),
        s.target,
        s.tern_pid,
        s.origin,
        s.restart_every.as_secs(),
        s.reload_every.as_secs(),
        s.longpolls,
        s.websockets,
        s.slowloris,
        s.abandoners,
        s.clients,
        s.rate
    );
    let conductor = conductor::start(&s, end, disruption.clone())?;
    let shared = Rc::new(Shared {
        ledger: Ledger::new(started, end, disruption),
        s,
    });
    let code = crate::runtime::block_on(drive(shared.clone()))
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let restarts = conductor.counts.restarts.load(Ordering::Relaxed);
    let reloads = conductor.counts.reloads.load(Ordering::Relaxed);
    let reload_errors = conductor.counts.reload_errors.load(Ordering::Relaxed);
    conductor.finish()?;
    println!(
        "origin restarts: {restarts}; reloads: {reloads} (signals that failed: {reload_errors})"
    );
    let _ = std::io::stdout().flush();
    // The clients still waiting are simply dropped with the process.
    std::process::exit(if code && reload_errors == 0 { 0 } else { 1 })
}

/// Starts every client, samples until the end, prints the report; returns
/// whether the soak passed.
async fn drive(sh: Rc<Shared>) -> bool {
    for i in 0..sh.s.clients {
        monoio::spawn(requests::keepalive_gets(i, sh.clone()));
        monoio::spawn(requests::fresh_gets(i, sh.clone()));
        monoio::spawn(requests::chunked_posts(i, sh.clone()));
    }
    monoio::spawn(requests::publisher(sh.clone()));
    for i in 0..sh.s.longpolls {
        monoio::spawn(held::long_poll(i, sh.clone()));
    }
    for i in 0..sh.s.abandoners {
        monoio::spawn(held::abandoner(i, sh.clone()));
    }
    for i in 0..sh.s.websockets {
        monoio::spawn(ws::websocket(i, sh.clone()));
    }
    for i in 0..sh.s.slowloris {
        monoio::spawn(slowloris::slowloris(i, sh.clone()));
    }
    let samples = sample_until_end(&sh).await;
    sh.ledger.stop();
    report(&sh, &samples)
}

async fn sample_until_end(sh: &Shared) -> Vec<samples::Sample> {
    println!("{}", samples::header());
    let every = sh.s.sample_every;
    let mut samples = Vec::new();
    let mut previous_ok = 0;
    let mut next = sh.ledger.started + every;
    while next <= sh.ledger.end {
        monoio::time::sleep_until(monoio::time::Instant::from_std(next)).await;
        next += every;
        match samples::take(sh.s.tern_pid, sh.s.admin, &sh.ledger) {
            Ok(sample) => {
                println!(
                    "{}",
                    samples::line(&sample, &sh.ledger, &mut previous_ok, every)
                );
                samples.push(sample);
            }
            Err(e) => {
                println!("{e}");
                sh.ledger
                    .fail("tern", "process gone", crate::clock::mono_ns());
                break;
            }
        }
        let _ = std::io::stdout().flush();
    }
    samples
}

fn report(sh: &Shared, samples: &[samples::Sample]) -> bool {
    println!("answered by kind:");
    for (kind, n) in sh.ledger.ok_counts() {
        println!("  {kind:<20} {n}");
    }
    let unexpected = sh.ledger.unexpected();
    println!("unexpected failures by cause: {}", unexpected.total());
    for (cause, n) in unexpected.entries().into_iter().filter(|e| e.1 > 0) {
        println!("  {cause:<40} {n}");
    }
    let expected = sh.ledger.expected();
    println!(
        "expected failures (exchanges under way while the origin restarted): {}",
        expected.total()
    );
    for (cause, n) in expected.entries().into_iter().filter(|e| e.1 > 0) {
        println!("  {cause:<40} {n}");
    }
    if let Some(m) = samples.iter().rev().find_map(|s| s.memory) {
        println!(
            "tern gave memory back after bursts {} times, in {:.1} ms in all",
            m.trims,
            m.trim_seconds * 1000.0
        );
    }
    let (pass, verdict) = samples::verdict(samples, sh.s.warmup, sh.s.window(), unexpected.total());
    println!("verdict: {verdict}");
    pass
}
