//! 1,000 concurrent requests through `workers = 2`; every response is
//! checked against the per-request id it must echo.

mod common;

use common::*;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// Fails on any lost, mixed-up (wrong id) or failed response under load,
/// e.g. a response relayed to the wrong client or a shared buffer reused.
#[test]
fn thousand_requests_50_threads_x_20_connections() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).workers(2).start();
    let addr = tern.addr();
    let mut handles = Vec::new();
    for t in 0..50 {
        handles.push(thread::spawn(move || {
            let mut failures = Vec::new();
            for i in 0..20 {
                let id = format!("/id/{}/{}", t, i);
                let mut c = Conn::connect(addr);
                c.set_read_timeout(Duration::from_secs(15));
                c.send(&get(&id));
                match c.read_response() {
                    Ok(r) if r.status == 200 && r.body_str() == id => {}
                    Ok(r) => failures.push(format!("{}: {} {:?}", id, r.status, r.body_str())),
                    Err(e) => failures.push(format!("{}: {:?}", id, e)),
                }
            }
            failures
        }));
    }
    let failures: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 1000 failed, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert_eq!(up.request_count(), 1000);
}

#[test]
fn thousand_requests_on_50_keep_alive_connections_with_bodies() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).workers(2).start();
    let addr = tern.addr();
    let mut handles = Vec::new();
    for t in 0..50 {
        handles.push(thread::spawn(move || {
            let mut failures = Vec::new();
            let mut c = Conn::connect(addr);
            c.set_read_timeout(Duration::from_secs(15));
            for i in 0..20 {
                let body = format!("body-{}-{}-{}", t, i, "x".repeat((t * 37 + i * 101) % 3000));
                c.send(&post("/echo", body.as_bytes()));
                match c.read_response_to("POST") {
                    Ok(r) if r.status == 200 && r.body == body.as_bytes() => {}
                    Ok(r) => {
                        failures.push(format!(
                            "{}/{}: status {} len {}",
                            t,
                            i,
                            r.status,
                            r.body.len()
                        ));
                        break;
                    }
                    Err(e) => {
                        failures.push(format!("{}/{}: {:?}", t, i, e));
                        break;
                    }
                }
            }
            failures
        }));
    }
    let failures: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "failures: {:?}",
        &failures[..failures.len().min(10)]
    );
}

#[test]
fn thousand_connections_held_at_once() {
    // All connections are open and have sent their request before any
    // response is read.
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).workers(2).start();
    let addr = tern.addr();
    let barrier = Arc::new(Barrier::new(20));
    let mut handles = Vec::new();
    for t in 0..20 {
        let barrier = barrier.clone();
        handles.push(thread::spawn(move || {
            let mut conns = Vec::new();
            for i in 0..50 {
                let mut c = Conn::connect(addr);
                c.set_read_timeout(Duration::from_secs(20));
                let id = format!("/held/{}/{}", t, i);
                c.send(&get(&id));
                conns.push((id, c));
            }
            barrier.wait();
            let mut failures = Vec::new();
            for (id, mut c) in conns {
                match c.read_response() {
                    Ok(r) if r.status == 200 && r.body_str() == id => {}
                    Ok(r) => failures.push(format!("{}: {} {:?}", id, r.status, r.body_str())),
                    Err(e) => failures.push(format!("{}: {:?}", id, e)),
                }
            }
            failures
        }));
    }
    let failures: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 1000 failed, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}

/// Fails if anything blocks a worker thread while a request waits for its
/// upstream (e.g. a blocking connect or read): with one worker, the fast
/// requests would queue behind the slow one.
#[test]
fn slow_upstream_does_not_block_other_requests_on_the_worker() {
    let up = RecordingUpstream::start(|c| {
        while let Some(req) = c.read_request() {
            if req.head.target() == "/slow" {
                thread::sleep(Duration::from_millis(2000));
            }
            if !c.respond(200, &[], req.head.target().as_bytes()) {
                return;
            }
        }
    });
    let tern = Cfg::new(up.addr).workers(1).start();
    let mut slow = tern.connect();
    slow.send(&get("/slow"));
    assert!(up.wait_conns(1, Duration::from_secs(3)));
    let start = std::time::Instant::now();
    for i in 0..20 {
        let mut c = tern.connect();
        let p = format!("/fast/{}", i);
        assert_eq!(c.roundtrip(&get(&p)).body_str(), p);
    }
    let fast_time = start.elapsed();
    assert!(
        fast_time < Duration::from_millis(1500),
        "20 fast requests took {:?} behind one slow request",
        fast_time
    );
    let r = slow.read_response().expect("slow response");
    assert_eq!(r.body_str(), "/slow");
}
