//! `tern-loadtest websocket`: N WebSocket clients through a proxy, each
//! echoing messages at a fixed rate, measuring round trips.
//!
//! All clients connect first; then a gate opens and every one of them
//! sends during the same `--duration` window, so the numbers describe the
//! proxy with all N upgraded connections open at once.

mod session;
mod settings;
mod stats;

use crate::gate::Gate;
use session::Plan;
use settings::Settings;
use stats::Stats;
use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let s = Settings::parse(args)?;
    crate::net::raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    let stats = Rc::new(Stats::default());
    let outcome = crate::runtime::block_on(drive(&s, stats.clone())).map_err(|e| e.to_string())?;
    let report = stats.report(&s, &outcome);
    if s.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    Ok(if outcome.expired {
        eprintln!(
            "websocket: --max-seconds {} expired before the run completed",
            s.max_seconds
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub struct Outcome {
    pub attempted: usize,
    pub ramp: Duration,
    pub expired: bool,
}

async fn drive(s: &Settings, stats: Rc<Stats>) -> Outcome {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(s.max_seconds);
    let plan = Rc::new(Plan {
        target: s.target,
        path: s.path.clone(),
        size: s.size,
        rate: s.rate,
        duration: Duration::from_secs_f64(s.duration),
        sources: s.sources,
        connections: s.connections,
        gate: Gate::default(),
        window_start: Cell::new(started),
    });
    let attempted = ramp(s, &plan, &stats, deadline).await;
    wait_until(deadline, || stats.settled.get() >= attempted).await;
    let ramp = started.elapsed();
    plan.window_start.set(Instant::now());
    plan.gate.open();
    let all_done = wait_until(deadline, || stats.finished.get() >= stats.established.get()).await;
    let unfinished = stats.established.get() - stats.finished.get();
    stats
        .errors
        .borrow_mut()
        .add_n("timeout", unfinished as u64);
    Outcome {
        attempted,
        ramp,
        expired: !all_done || attempted < s.connections,
    }
}

/// Starts sessions at `--ramp` per second; returns how many were started.
async fn ramp(s: &Settings, plan: &Rc<Plan>, stats: &Rc<Stats>, deadline: Instant) -> usize {
    let start = Instant::now();
    let mut started = 0;
    while started < s.connections && Instant::now() < deadline {
        let due = (start.elapsed().as_secs_f64() * s.ramp) as usize + 1;
        while started < due.min(s.connections) {
            monoio::spawn(session::run(started, plan.clone(), stats.clone()));
            started += 1;
        }
        monoio::time::sleep(Duration::from_millis(1)).await;
    }
    started
}

/// Polls `done` every 5 ms; false if the deadline came first.
async fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        monoio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}
