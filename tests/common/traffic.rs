//! Traffic that must survive reloads and upgrades: a client load loop
//! (keep-alive and new connections, every response checked), long-polls
//! held by an upstream until released, and WebSockets echoed through tern.
//! Every loop is bounded in time and count.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::*;

/// An upstream answering every request 200 with `body`.
pub fn says(body: &'static str) -> RecordingUpstream {
    RecordingUpstream::start(move |c| {
        while c.read_request().is_some() {
            if !c.respond(200, &[], body.as_bytes()) {
                return;
            }
        }
    })
}

/// Holds every `/poll` request until `release`, then answers `released`;
/// other requests get `ok` at once.
pub struct LongPolls {
    pub upstream: RecordingUpstream,
    held: Arc<AtomicUsize>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

/// Held requests give up after this, so a failed test cannot hang.
const HOLD_LIMIT: Duration = Duration::from_secs(60);

impl LongPolls {
    pub fn start() -> LongPolls {
        let held = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (h, g) = (held.clone(), gate.clone());
        let upstream = RecordingUpstream::start(move |c| {
            while let Some(req) = c.read_request() {
                let body: &[u8] = if req.head.target().starts_with("/poll") {
                    h.fetch_add(1, Ordering::SeqCst);
                    wait_open(&g);
                    b"released"
                } else {
                    b"ok"
                };
                if !c.respond(200, &[], body) {
                    return;
                }
            }
        });
        LongPolls {
            upstream,
            held,
            gate,
        }
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    pub fn release(&self) {
        let (open, wake) = &*self.gate;
        *open.lock().unwrap() = true;
        wake.notify_all();
    }
}

fn wait_open(gate: &(Mutex<bool>, Condvar)) {
    let (open, wake) = gate;
    let deadline = Instant::now() + HOLD_LIMIT;
    let mut is_open = open.lock().unwrap();
    while !*is_open && Instant::now() < deadline {
        is_open = wake
            .wait_timeout(is_open, Duration::from_millis(200))
            .unwrap()
            .0;
    }
}

/// Opens `count` long-polls to `addr` (requests sent, responses not read).
pub fn open_long_polls(addr: SocketAddr, count: usize) -> Vec<Conn> {
    (0..count)
        .map(|i| {
            let mut conn = Conn::connect(addr);
            conn.send(&get(&format!("/poll/{i}")));
            conn
        })
        .collect()
}

/// Reads every long-poll's answer; returns how many were not `released`.
pub fn finish_long_polls(polls: &mut [Conn]) -> usize {
    let mut failed = 0;
    for conn in polls.iter_mut() {
        conn.set_read_timeout(Duration::from_secs(10));
        let answer = conn.read_response();
        if !matches!(answer, Ok(r) if r.status == 200 && r.body == b"released") {
            failed += 1;
        }
    }
    failed
}

/// A WebSocket echo upstream: answers the upgrade with 101, then echoes
/// every frame.
pub fn ws_echo() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        if c.read_request().is_none() {
            return;
        }
        let switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        if !c.write(switch) {
            return;
        }
        while let Ok(f) = c.read_ws_frame() {
            if !c.write(&ws_encode(f.fin, f.opcode, &f.payload, None)) || f.opcode == 8 {
                return;
            }
        }
    })
}

/// Opens `count` WebSockets through tern to `path`; panics if one fails.
pub fn open_websockets(addr: SocketAddr, path: &str, count: usize) -> Vec<Conn> {
    (0..count)
        .map(|i| {
            let mut conn = Conn::connect(addr);
            let req = format!(
                "GET {path} HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            );
            conn.send(req.as_bytes());
            let head = conn.read_head_raw().expect("upgrade answer");
            assert!(
                head.starts_with(b"HTTP/1.1 101"),
                "websocket {i}: {}",
                show(&head)
            );
            conn
        })
        .collect()
}

/// Sends a text frame on every WebSocket and checks its echo; returns how
/// many failed.
pub fn echo_websockets(sockets: &mut [Conn], text: &str) -> usize {
    let mut failed = 0;
    for ws in sockets.iter_mut() {
        ws.set_read_timeout(Duration::from_secs(5));
        ws.send(&ws_encode(true, 1, text.as_bytes(), Some([1, 2, 3, 4])));
        if !matches!(ws.read_ws_frame(), Ok(f) if f.payload == text.as_bytes()) {
            failed += 1;
        }
    }
    failed
}

/// What a load loop saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: usize,
    /// Each failure, described (at most a few kept).
    pub failures: Vec<String>,
    pub failed: usize,
    /// Requests sent on a reused keep-alive connection that the server
    /// closed before any byte of a response: a client retries these on a
    /// new connection (RFC 9112, 9.3.1), as browsers do; they are sent
    /// again and not failures. A draining server closing idle keep-alives
    /// makes them; a reload must not.
    pub retried: usize,
}

/// Client threads sending `GET path` in a loop, checking each answer is a
/// 200 with one of `bodies`; each keeps a connection for `per_conn`
/// requests, then opens a new one.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Tally>>,
}

/// A load loop ends after this even if nobody stops it.
const LOAD_LIMIT: Duration = Duration::from_secs(60);

impl Load {
    pub fn start(
        addr: SocketAddr,
        path: &'static str,
        bodies: &[&'static str],
        clients: usize,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let bodies: Arc<HashSet<&'static [u8]>> =
            Arc::new(bodies.iter().map(|b| b.as_bytes()).collect());
        let threads = (0..clients)
            .map(|i| {
                let (stop, bodies) = (stop.clone(), bodies.clone());
                let per_conn = 1 + (i % 4) * 10;
                thread::spawn(move || client_loop(addr, path, &bodies, per_conn, &stop))
            })
            .collect();
        Load { stop, threads }
    }

    pub fn stop(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        let mut total = Tally::default();
        for thread in self.threads {
            let tally = thread.join().expect("load thread");
            total.ok += tally.ok;
            total.failed += tally.failed;
            total.retried += tally.retried;
            total.failures.extend(tally.failures);
        }
        total.failures.truncate(5);
        total
    }
}

fn client_loop(
    addr: SocketAddr,
    path: &str,
    bodies: &HashSet<&'static [u8]>,
    per_conn: usize,
    stop: &AtomicBool,
) -> Tally {
    let mut tally = Tally::default();
    let deadline = Instant::now() + LOAD_LIMIT;
    let request = get(path);
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        let mut conn = match std::net::TcpStream::connect(addr) {
            Ok(stream) => Conn::new(stream, None),
            Err(err) => {
                fail(&mut tally, format!("connect: {err}"));
                continue;
            }
        };
        conn.set_read_timeout(Duration::from_secs(5));
        for nth in 0..per_conn {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            let sent = conn.try_send(&request);
            let answer = match sent {
                Ok(()) => conn.read_response(),
                Err(err) => Err(RespErr::Io {
                    err,
                    partial: Vec::new(),
                }),
            };
            match answer {
                Ok(r) if r.status == 200 && bodies.contains(r.body.as_slice()) => tally.ok += 1,
                Ok(r) => {
                    fail(
                        &mut tally,
                        format!("status {} body {:?}", r.status, r.body_str()),
                    );
                    break;
                }
                Err(err) if nth > 0 && closed_unanswered(&err) => {
                    tally.retried += 1;
                    break;
                }
                Err(err) => {
                    fail(&mut tally, format!("no response: {err:?}"));
                    break;
                }
            }
        }
    }
    tally
}

fn fail(tally: &mut Tally, what: String) {
    tally.failed += 1;
    if tally.failures.len() < 5 {
        tally.failures.push(what);
    }
}

/// One request on a new connection; the body, or why there was none.
pub fn fetch(addr: SocketAddr, path: &str) -> Result<String, String> {
    let stream = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let mut conn = Conn::new(stream, None);
    conn.set_read_timeout(Duration::from_secs(5));
    conn.try_send(&get(path))
        .map_err(|e| format!("send: {e}"))?;
    match conn.read_response() {
        Ok(r) => Ok(r.body_str()),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// Waits until tern's stderr has `count` lines containing `needle`.
pub fn wait_lines(tern: &Tern, needle: &str, count: usize, timeout: Duration) -> bool {
    wait_until(timeout, || {
        tern.stderr().iter().filter(|l| l.contains(needle)).count() >= count
    })
}

/// Closed (or reset) before any byte of a response arrived.
fn closed_unanswered(err: &RespErr) -> bool {
    matches!(err, RespErr::Closed { .. } | RespErr::Io { .. }) && err.partial().is_empty()
}
