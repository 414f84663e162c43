//! A long-poll child process (hidden subcommand `__longpoll-worker`):
//! holds its share of the connections and reports to the parent.
//!
//! Protocol, one line each way per step:
//!   child → parent  `ready attempted=.. established=.. connect=..`
//!   parent → child  `publish <CLOCK_MONOTONIC ns>` (or `abort`, or EOF)
//!   child → parent  `lat <µs> <µs> ...` then `done <kind>=<n> ...`
//! Latencies are computed in the child against the parent's publish
//! timestamp, which is valid because CLOCK_MONOTONIC is machine-wide.

use super::MESSAGE;
use crate::args::Flags;
use crate::buf::ReadBuf;
use crate::clock::mono_ns;
use crate::httpclient::read_response;
use crate::net::{connect_from, source_ip};
use crate::tally::{io_kind, Errors};
use monoio::io::AsyncWriteRentExt;
use std::cell::{Cell, RefCell};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Config {
    target: SocketAddr,
    connections: usize,
    ramp: f64,
    request: Rc<Vec<u8>>,
    sources: usize,
    first_index: usize,
    deadline: Instant,
}

/// What the parent said on stdin: 0 = nothing yet, 1 = abort, else the
/// publish timestamp (never 0 or 1 in practice: it's uptime in ns).
type Command = Arc<AtomicU64>;
const ABORT: u64 = 1;

#[derive(Default)]
struct State {
    settled: Cell<usize>,
    established: Cell<usize>,
    finished: Cell<usize>,
    /// CLOCK_MONOTONIC ns at which each correct 200 fully arrived.
    arrivals: RefCell<Vec<u64>>,
    errors: RefCell<Errors>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let opts = [
        "target",
        "connections",
        "ramp",
        "path",
        "sources",
        "first-index",
        "max-seconds",
    ];
    let flags = Flags::parse(args, &[], &opts)?;
    let target: SocketAddr = crate::net::loopback_addr(&flags.required::<String>("target")?)?;
    let path: String = flags.required("path")?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    let config = Config {
        target,
        connections: flags.required("connections")?,
        ramp: flags.number("ramp", 2000.0, 0.000_001, 1e7)?,
        request: Rc::new(request.into_bytes()),
        sources: flags.get("sources", 1)?,
        first_index: flags.get("first-index", 0)?,
        deadline: Instant::now()
            + Duration::from_secs_f64(flags.number("max-seconds", 120.0, 0.0, 864_000.0)?),
    };
    crate::net::raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    let command = listen_to_parent();
    crate::runtime::block_on(child_main(config, command)).map_err(|e| e.to_string())
}

/// Reads the parent's single command on a plain thread, so the runtime
/// never blocks on stdin; it polls the atomic instead.
fn listen_to_parent() -> Command {
    let command: Command = Arc::default();
    let c = command.clone();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        let value = match line.trim().strip_prefix("publish ") {
            Some(ns) => ns.parse().unwrap_or(ABORT).max(2),
            None => ABORT,
        };
        c.store(value, Ordering::Release);
    });
    command
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn child_main(config: Config, command: Command) {
    let state = Rc::new(State::default());
    let config = Rc::new(config);
    let attempted = ramp(&config, &state).await;
    // Ready = every attempt connected and sent its request, or failed.
    wait_until(&config, || state.settled.get() >= attempted).await;
    say(&format!(
        "ready attempted={attempted} established={} connect={}",
        state.established.get(),
        state.errors.borrow().get("connect")
    ));
    let outstanding = || state.finished.get() < state.established.get();
    wait_until(&config, || {
        let c = command.load(Ordering::Acquire);
        c == ABORT || (c != 0 && !outstanding())
    })
    .await;
    let lost = (state.established.get() - state.finished.get()) as u64;
    state.errors.borrow_mut().add_n("timeout", lost);
    finish(&state, command.load(Ordering::Acquire));
}

/// Starts `connections` holders at `ramp` per second; returns how many
/// were started before the deadline.
async fn ramp(config: &Rc<Config>, state: &Rc<State>) -> usize {
    let start = Instant::now();
    let mut started = 0;
    while started < config.connections && Instant::now() < config.deadline {
        let due = (start.elapsed().as_secs_f64() * config.ramp) as usize + 1;
        while started < due.min(config.connections) {
            monoio::spawn(hold(started, config.clone(), state.clone()));
            started += 1;
        }
        monoio::time::sleep(Duration::from_millis(1)).await;
    }
    started
}

/// Polls `done` every 2 ms until it holds or the deadline passes.
async fn wait_until(config: &Config, mut done: impl FnMut() -> bool) {
    while !done() && Instant::now() < config.deadline {
        monoio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One subscriber: connect, send the long-poll, await the delivery.
async fn hold(i: usize, config: Rc<Config>, state: Rc<State>) {
    let source = source_ip(config.first_index + i, config.sources);
    let mut stream = match connect_from(source, config.target).await {
        Ok(s) => s,
        Err(_) => {
            state.errors.borrow_mut().add("connect");
            state.settled.set(state.settled.get() + 1);
            return;
        }
    };
    let (sent, _) = stream.write_all(config.request.clone()).await;
    state.settled.set(state.settled.get() + 1);
    if let Err(e) = sent {
        state.errors.borrow_mut().add(io_kind(&e));
        return;
    }
    state.established.set(state.established.get() + 1);
    let mut buf = ReadBuf::with_capacity(1024);
    let response = read_response(&mut stream, &mut buf).await;
    let arrived = mono_ns();
    match response {
        Ok(r) if r.status == 200 && r.body == MESSAGE.as_bytes() => {
            state.arrivals.borrow_mut().push(arrived)
        }
        Ok(r) if r.status == 200 => state.errors.borrow_mut().add("body"),
        Ok(_) => state.errors.borrow_mut().add("status"),
        Err(e) => state.errors.borrow_mut().add(io_kind(&e)),
    }
    state.finished.set(state.finished.get() + 1);
}

/// Turns arrivals into latencies against the publish time and reports.
fn finish(state: &State, command: u64) {
    let mut errors = state.errors.borrow().clone();
    let mut lat = String::from("lat");
    for &t in state.arrivals.borrow().iter() {
        if command <= ABORT || t < command {
            // A 200 before anything was published: a proxy answering
            // from somewhere it shouldn't.
            errors.add("early");
        } else {
            lat.push_str(&format!(" {}", (t - command) / 1000));
        }
    }
    say(&lat);
    say(&format!("done {}", errors.to_words()));
}
