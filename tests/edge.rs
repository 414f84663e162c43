//! Holding at the edge (issue 9, items 5 and 9-12): one tern per address,
//! server limits that hold for the process, a connection cap and descriptor
//! exhaustion, contained panics, and reloads that don't pile up.

mod admin_support;
mod common;

use admin_support::*;
use common::traffic::*;
use common::*;
use std::time::Duration;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// --- item 5: one tern per address ------------------------------------------

#[test]
fn a_second_tern_on_the_same_address_is_refused() {
    let app = says("first");
    let port = free_port();
    let mut cfg = Cfg::new(app.addr);
    cfg.binds = vec![format!("127.0.0.1:{port}")];
    let mut first = cfg.start();
    let second = Tern::try_start(&cfg.render());
    let Err(why) = second else {
        panic!("a second tern started on 127.0.0.1:{port} beside the first");
    };
    assert!(
        why.contains("Address already in use") && why.contains(&format!("127.0.0.1:{port}")),
        "the refusal should name the address and say it is in use:\n{why}"
    );
    assert!(first.is_running(), "the first tern must keep running");
    for _ in 0..4 {
        assert_eq!(fetch(first.addr(), "/").as_deref(), Ok("first"));
    }
}

#[test]
fn two_listeners_on_one_address_fail_the_check() {
    let port = free_port();
    let config = format!(
        "[[listener]]\nname = \"a\"\nbind = \"127.0.0.1:{port}\"\n\n\
         [[listener]]\nname = \"b\"\nbind = [\"127.0.0.2:1\", \"0.0.0.0:{port}\"]\n\n\
         [[route]]\nbackend = \"app\"\n\n[backend.app]\nservers = [\"127.0.0.1:9\"]\n"
    );
    let file = TempFile::new("two.toml", &config);
    let out = run_tern(&["--check", "--config", &file.path_str()]);
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "--check accepted two listeners on one port: {err}"
    );
    assert!(
        err.contains("listener[1].bind[1]") && err.contains("already in use"),
        "the error should name the key and say the address is in use: {err}"
    );
}

// --- item 11: a panic stays small ------------------------------------------

/// Debug builds panic in the connection task of a request whose request
/// line contains `TERN_DEBUG_PANIC` (see src/worker/contain.rs). Each test
/// runs in its own process under nextest; the text is unique anyway.
fn with_panic_env(name: &str, text: &str) {
    std::env::set_var(name, text);
}

#[test]
fn a_panic_in_a_connection_closes_it_and_the_worker_keeps_serving() {
    with_panic_env("TERN_DEBUG_PANIC", "/inject-a-panic");
    let app = says("fine");
    let tern = start_with_admin(&Cfg::new(app.addr).workers(1));
    // A keep-alive neighbour on the same worker, mid-conversation.
    let mut neighbour = tern.connect();
    neighbour.set_read_timeout(Duration::from_secs(5));
    assert_eq!(neighbour.roundtrip(&get("/a")).body_str(), "fine");
    for round in 1..=3 {
        let (bytes, _) = raw_request(
            tern.addr(),
            b"GET /inject-a-panic HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert!(
            bytes.is_empty(),
            "the panicking request got an answer: {}",
            show(&bytes)
        );
        assert_eq!(
            fetch(tern.addr(), "/after").as_deref(),
            Ok("fine"),
            "the worker stopped serving after panic {round}"
        );
        assert_eq!(neighbour.roundtrip(&get("/b")).body_str(), "fine");
    }
    assert_eq!(wait_metric(&tern, "tern_panics_total", 3.0), Some(3.0));
    assert!(
        wait_lines(
            &tern,
            "GET /inject-a-panic HTTP/1.1",
            3,
            Duration::from_secs(5)
        ),
        "each panic should be logged with its request line: {:#?}",
        tern.stderr()
    );
    assert!(tern
        .stderr()
        .iter()
        .any(|l| l.contains("injected by TERN_DEBUG_PANIC") && l.contains("127.0.0.1")));
}

#[test]
fn a_worker_that_dies_anyway_stops_the_process_non_zero() {
    with_panic_env("TERN_DEBUG_WORKER_PANIC", "/kill-the-worker");
    let app = says("fine");
    let mut tern = Cfg::new(app.addr).workers(2).grace("1s").start();
    assert_eq!(fetch(tern.addr(), "/a").as_deref(), Ok("fine"));
    let _ = raw_request_timeout(
        tern.addr(),
        b"GET /kill-the-worker HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    );
    let status = tern.wait_exit(Duration::from_secs(10));
    let Some(status) = status else {
        panic!("tern lived on with a dead worker: {:#?}", tern.stderr());
    };
    assert!(!status.success(), "tern exited 0 after a worker died");
    assert!(
        tern.stderr()
            .iter()
            .any(|l| l.contains("worker") && l.contains("died")),
        "{:#?}",
        tern.stderr()
    );
}
