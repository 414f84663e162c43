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
