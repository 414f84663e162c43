//! A stop (or an upgrade hand-over) closes idle keep-alive connections, but
//! never one whose next request has already arrived: that request is served
//! (and the connection closed after it).
//!
//! To make "arrived at the moment the drain starts" happen every time, the
//! test freezes tern (SIGSTOP), writes the requests and SIGTERM while it is
//! frozen, and thaws it: the worker then finds the requests and the stop in
//! the same turn of its loop.

mod common;

use std::time::Duration;

use common::*;

const CONNECTIONS: usize = 24;

/// Rounds: whether the worker meets the requests or the stop first when it
/// thaws varies, so one round alone catches the fault only about half the
/// time (measured against the build before the fix).
const ROUNDS: usize = 6;

#[test]
fn requests_that_arrived_when_a_stop_began_are_served() {
    for round in 0..ROUNDS {
        let lost = stop_with_requests_waiting();
        assert_eq!(
            lost, 0,
            "round {round}: {lost} of {CONNECTIONS} requests that had arrived were cut off"
        );
    }
}

/// Returns how many of the requests waiting when the stop began got no
/// response.
fn stop_with_requests_waiting() -> usize {
    let up = RecordingUpstream::echo();
    let mut tern = Cfg::new(up.addr).workers(1).start();
    let mut clients: Vec<Conn> = (0..CONNECTIONS).map(|_| tern.connect()).collect();
    for c in &mut clients {
        let first = c.roundtrip(&get("/first"));
        assert_eq!(first.status, 200);
    }
    tern.signal("STOP");
    for c in &mut clients {
        c.send(&get("/second"));
    }
    tern.sigterm();
    // Long enough for the worker's stop check to be due when it thaws.
    std::thread::sleep(Duration::from_millis(200));
    tern.signal("CONT");
    let mut lost = 0;
    for c in &mut clients {
        match c.read_response() {
            Ok(resp) => assert_eq!(resp.status, 200),
            Err(_) => lost += 1,
        }
    }
    assert!(tern.wait_exit(Duration::from_secs(10)).is_some());
    lost
}
