//! Graceful stop on SIGTERM: in-flight responses complete, new connections
//! are refused, tern exits 0 within the grace period.

mod common;

use common::*;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

fn slow_upstream(delay: Duration) -> RecordingUpstream {
    RecordingUpstream::start(move |c| {
        while let Some(req) = c.read_request() {
            thread::sleep(delay);
            if !c.respond(200, &[], req.head.target().as_bytes()) {
                return;
            }
        }
    })
}

fn refused(addr: std::net::SocketAddr) -> bool {
    match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
        Ok(_) => false,
    }
}

/// Fails if SIGTERM kills in-flight requests, if the listener keeps
/// accepting while tern drains, or if tern exits non-zero / hangs past the
/// grace period.
#[test]
fn sigterm_completes_in_flight_request_then_exits_0() {
    // "/inflight" is answered after 1 s; "/longer" after 2.5 s keeps tern
    // draining (alive) while the refusal of new connections is checked.
    let up = RecordingUpstream::start(|c| {
        while let Some(req) = c.read_request() {
            let ms = if req.head.target() == "/longer" {
                2500
            } else {
                1000
            };
            thread::sleep(Duration::from_millis(ms));
            if !c.respond(200, &[], req.head.target().as_bytes()) {
                return;
            }
        }
    });
    let mut tern = Cfg::new(up.addr).grace("6s").start();
    let addr = tern.addr();
    let mut c = tern.connect();
    c.send(&get("/inflight"));
    let mut c2 = tern.connect();
    c2.send(&get("/longer"));
    // Both requests are at the upstream.
    assert!(
        wait_until(Duration::from_secs(3), || up.conn_count() >= 2
            && !up.conn_bytes(0).is_empty()
            && !up.conn_bytes(1).is_empty()),
        "requests never reached the upstream"
    );
    let sent_at = Instant::now();
    tern.sigterm();
    let r = c.read_response().expect("in-flight response after SIGTERM");
    assert_eq!(r.status, 200, "{}", show(&r.raw));
    assert_eq!(r.body_str(), "/inflight");
    assert!(
        wait_until(Duration::from_secs(1), || refused(addr)),
        "new connections still accepted after SIGTERM"
    );
    assert!(tern.is_running(), "tern exited before /longer was answered");
    let r2 = c2.read_response().expect("second in-flight response");
    assert_eq!(r2.body_str(), "/longer");
    let status = tern.wait_exit(Duration::from_secs(7));
    let status = status.unwrap_or_else(|| panic!("tern still running 7 s after SIGTERM"));
    assert!(
        status.success(),
        "exit status {:?}; stderr: {:?}",
        status,
        tern.stderr()
    );
    assert!(sent_at.elapsed() < Duration::from_secs(6));
}

#[test]
fn sigterm_with_no_connections_exits_0_quickly() {
    let up = RecordingUpstream::echo();
    let mut tern = Cfg::new(up.addr).grace("5s").start();
    tern.sigterm();
    let status = tern
        .wait_exit(Duration::from_secs(3))
        .expect("tern still running 3 s after SIGTERM with no connections");
    assert!(status.success(), "exit status {:?}", status);
}

#[test]
fn sigterm_closes_idle_keep_alive_connections() {
    // An idle keep-alive client must not hold the process up until the
    // grace period (or client_idle) runs out.
    let up = RecordingUpstream::echo();
    let mut tern = Cfg::new(up.addr)
        .grace("8s")
        .timeout("client_idle", "30s")
        .start();
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/x")).status, 200);
    let start = Instant::now();
    tern.sigterm();
    assert!(
        c.expect_close(Duration::from_secs(5)).is_ok(),
        "idle keep-alive connection not closed on SIGTERM"
    );
    let status = tern
        .wait_exit(Duration::from_secs(5))
        .expect("tern not exited");
    assert!(status.success(), "exit status {:?}", status);
    assert!(start.elapsed() < Duration::from_secs(6));
}

#[test]
fn keep_alive_client_in_flight_gets_close_after_response() {
    // A request in flight on a keep-alive connection completes, its
    // response says the connection closes (RFC 9112 §9.6), and the
    // connection is then closed (not kept for more requests).
    let up = slow_upstream(Duration::from_millis(700));
    let mut tern = Cfg::new(up.addr).grace("5s").start();
    let mut c = tern.connect();
    c.send(&get("/ka"));
    assert!(wait_until(Duration::from_secs(3), || up.conn_count() >= 1
        && !up.conn_bytes(0).is_empty()));
    tern.sigterm();
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert!(
        c.expect_close(Duration::from_secs(4)).is_ok(),
        "connection kept open"
    );
    assert!(tern.wait_exit(Duration::from_secs(5)).is_some());
}

#[test]
fn grace_period_bounds_shutdown() {
    // The upstream would take 20 s; with a 1 s grace tern must not wait.
    let up = slow_upstream(Duration::from_secs(20));
    let mut tern = Cfg::new(up.addr)
        .grace("1s")
        .timeout("server", "60s")
        .start();
    let mut c = tern.connect();
    c.send(&get("/forever"));
    assert!(wait_until(Duration::from_secs(3), || up.conn_count() >= 1
        && !up.conn_bytes(0).is_empty()));
    let start = Instant::now();
    tern.sigterm();
    let status = tern.wait_exit(Duration::from_secs(5));
    assert!(
        status.is_some(),
        "tern still running {:?} after SIGTERM with a 1 s grace",
        start.elapsed()
    );
}

/// Requests still in flight when the grace period runs out are cut as tern
/// exits: each gets its access-log line all the same (with the status and
/// bytes it had, here none: nginx writes them too), and the error log says
/// how many were cut. They were missing from the log.
#[test]
fn requests_cut_when_the_grace_period_runs_out_are_logged() {
    let up = slow_upstream(Duration::from_secs(20));
    let log = TempFile::new("cut-access.log", "");
    let text = Cfg::new(up.addr)
        .workers(1)
        .grace("1s")
        .timeout("server", "60s")
        .render();
    let mut tern = Tern::start(&format!("[log]\naccess = \"{}\"\n{text}", log.path_str()));
    let mut held: Vec<Conn> = (0..3).map(|_| tern.connect()).collect();
    for (i, c) in held.iter_mut().enumerate() {
        c.send(&get(&format!("/forever/{i}")));
    }
    assert!(wait_until(Duration::from_secs(3), || up.request_count() == 3));
    tern.sigterm();
    assert!(tern.wait_exit(Duration::from_secs(5)).is_some());
    let text = std::fs::read_to_string(&log.path).unwrap_or_default();
    let cut = text
        .lines()
        .filter(|l| l.contains("\"GET /forever/"))
        .count();
    assert_eq!(cut, 3, "{text}");
    assert!(
        text.lines()
            .all(|l| !l.contains("/forever/") || l.contains("HTTP/1.1\" 0 0 ")),
        "{text}"
    );
    assert!(
        tern.has_said("with 3 requests in flight"),
        "{:#?}",
        tern.stderr()
    );
}
