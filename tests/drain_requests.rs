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

#[test]
fn requests_that_arrived_when_a_stop_began_are_served() {
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
    tern.signal("CONT");
    let mut lost = 0;
    for c in &mut clients {
        match c.read_response() {
            Ok(resp) => assert_eq!(resp.status, 200),
            Err(_) => lost += 1,
        }
    }
    assert_eq!(
        lost, 0,
        "{lost} of {CONNECTIONS} requests that had arrived were cut off"
    );
    assert!(tern.wait_exit(Duration::from_secs(10)).is_some());
}
