//! Clients that leave, trickle junk or try to slip past the routes:
//! abandoned long-polls are aborted upstream (499), stray bytes after a
//! request get a 400 at once, `Upgrade: h2c` is never tunnelled, and a bad
//! chunk that came with the head never reaches the upstream.

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::*;

/// A backend `app` with one server and a catch-all route whose extra keys
/// are `route_extra`; `server_extra` goes into the server's table.
fn config(upstream: SocketAddr, route_extra: &str, server_extra: &str, log: &str) -> String {
    format!(
        "[server]\nworkers = 1\n[server.timeouts]\nclient_header = \"5s\"\n\
         {log}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\nbackend = \"app\"\n{route_extra}\n\
         [backend.app]\nservers = [{{ address = \"{upstream}\" {server_extra} }}]\n\
         timeouts = {{ server = \"30s\", queue = \"3s\" }}\n"
    )
}

/// An upstream that holds every request until the connection closes, and
/// counts the connections tern closed on it.
fn holding_upstream(closed: Arc<AtomicUsize>) -> RecordingUpstream {
    RecordingUpstream::start(move |c| {
        let _ = c.read_request();
        let _ = c.conn.read_to_eof();
        closed.fetch_add(1, Ordering::SeqCst);
    })
}

#[test]
fn an_abandoned_long_poll_is_aborted_upstream_and_logged_499() {
    let closed = Arc::new(AtomicUsize::new(0));
    let up = holding_upstream(closed.clone());
    let dir = TempDir::new("hostile-abandon");
    let log = dir.join("access.log");
    let tern = Tern::start(&config(
        up.addr,
        "",
        "",
        &format!("[log]\naccess = \"{}\"", log.display()),
    ));
    let mut c = tern.connect();
    c.send(b"GET /poll HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        up.wait_requests(1, Duration::from_secs(5)),
        "poll reached the app"
    );
    drop(c);
    assert!(
        wait_until(Duration::from_secs(5), || closed.load(Ordering::SeqCst)
            == 1),
        "tern kept the upstream request of a client that left"
    );
    let logged = wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("\"GET /poll HTTP/1.1\" 499"))
    });
    assert!(
        logged,
        "access log: {:?}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn a_reset_aborts_at_once_even_for_http10() {
    let closed = Arc::new(AtomicUsize::new(0));
    let up = holding_upstream(closed.clone());
    let tern = Tern::start(&config(up.addr, "", "", ""));
    let mut s = TcpStream::connect(tern.addr()).expect("connect");
    s.write_all(b"GET /poll HTTP/1.0\r\n\r\n").expect("write");
    assert!(
        up.wait_requests(1, Duration::from_secs(5)),
        "poll reached the app"
    );
    // SO_LINGER 0: close sends a reset, not a FIN.
    socket2::SockRef::from(&s)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    drop(s);
    assert!(
        wait_until(Duration::from_secs(5), || closed.load(Ordering::SeqCst)
            == 1),
        "a reset client's request was kept upstream"
    );
}

#[test]
fn abandoned_long_polls_free_the_servers_connection_slots() {
    let closed = Arc::new(AtomicUsize::new(0));
    let up = holding_upstream(closed.clone());
    let tern = Tern::start(&config(up.addr, "", ", max_connections = 2", ""));
    for _ in 0..4 {
        let mut c = tern.connect();
        c.send(b"GET /poll HTTP/1.1\r\nHost: h\r\n\r\n");
        // Each waits until it holds a slot: the app sees its request.
        let seen = up.request_count() + 1;
        assert!(
            up.wait_requests(seen, Duration::from_secs(5)),
            "poll admitted"
        );
        drop(c);
    }
    let mut next = tern.connect();
    next.send(b"GET /poll HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        up.wait_requests(5, Duration::from_secs(5)),
        "the next subscriber was not admitted: slots stayed taken by clients that left"
    );
}

#[test]
fn a_half_close_after_the_request_still_gets_its_response() {
    let up = RecordingUpstream::start(|c| {
        if c.read_request().is_some() {
            thread::sleep(Duration::from_millis(600));
            c.respond(200, &[], b"late news");
        }
    });
    let tern = Tern::start(&config(up.addr, "", "", ""));
    let mut c = tern.connect();
    c.send(b"GET /poll HTTP/1.1\r\nHost: h\r\n\r\n");
    c.shutdown_write();
    let (_interim, resp) = c
        .read_final_response("GET")
        .expect("the response after a half-close");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"late news");
}

#[test]
fn abort_on_close_half_treats_a_half_close_as_leaving() {
    let closed = Arc::new(AtomicUsize::new(0));
    let up = holding_upstream(closed.clone());
    let tern = Tern::start(&config(up.addr, "abort_on_close = \"half\"", "", ""));
    let mut c = tern.connect();
    c.send(b"GET /poll HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(up.wait_requests(1, Duration::from_secs(5)));
    c.shutdown_write();
    assert!(
        wait_until(Duration::from_secs(5), || closed.load(Ordering::SeqCst)
            == 1),
        "a half-close did not abort with abort_on_close = \"half\""
    );
}

#[test]
fn abort_on_close_never_keeps_the_request_running() {
    let closed = Arc::new(AtomicUsize::new(0));
    let up = holding_upstream(closed.clone());
    let tern = Tern::start(&config(up.addr, "abort_on_close = \"never\"", "", ""));
    let mut c = tern.connect();
    c.send(b"GET /poll HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(up.wait_requests(1, Duration::from_secs(5)));
    drop(c);
    thread::sleep(Duration::from_secs(1));
    assert_eq!(
        closed.load(Ordering::SeqCst),
        0,
        "aborted although told never"
    );
}

#[test]
fn bad_abort_on_close_values_are_refused_by_name() {
    let toml = config(dead_addr(), "abort_on_close = \"sometimes\"", "", "");
    let err = Tern::try_start(&toml).err().expect("refused");
    assert!(
        err.contains("route[0].abort_on_close") && err.contains("\"full\""),
        "{err}"
    );
}

#[test]
fn stray_bytes_after_a_request_get_400_at_once() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&config(up.addr, "", "", ""));
    let mut c = tern.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n\x00");
    let first = c.read_response().expect("the request's response");
    assert_eq!(first.status, 200);
    let second = c.read_response().expect("an answer to the stray byte");
    // 408 would mean tern waited out the header timeout for a line that
    // can never become a request.
    assert_eq!(second.status, 400);
    assert!(
        c.expect_close(Duration::from_secs(2)).is_ok(),
        "closed after"
    );
}

#[test]
fn upgrade_h2c_is_dropped_and_the_request_goes_on_as_http1() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&config(up.addr, "", "", ""));
    let mut c = tern.connect();
    let resp = c.roundtrip(
        b"GET /admin/secret HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n\
          Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    );
    assert_eq!(resp.status, 200);
    let seen = up.requests();
    let head = &seen[0].head;
    assert!(!head.has("upgrade"), "Upgrade forwarded: {head:?}");
    assert!(!head.has("http2-settings"), "HTTP2-Settings forwarded");
    assert!(!head.has_token("connection", "upgrade"));
}

#[test]
fn a_route_may_allow_more_upgrade_protocols() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&config(
        up.addr,
        "upgrade = [\"websocket\", \"h2c\"]",
        "",
        "",
    ));
    let mut c = tern.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: H2C\r\n\r\n");
    assert!(up.wait_requests(1, Duration::from_secs(5)));
    let head = &up.requests()[0].head;
    assert!(
        head.has_token("upgrade", "h2c"),
        "allowed upgrade dropped: {head:?}"
    );
}

#[test]
fn websocket_upgrades_are_still_forwarded_by_default() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&config(up.addr, "", "", ""));
    let mut c = tern.connect();
    c.send(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    assert!(up.wait_requests(1, Duration::from_secs(5)));
    let head = &up.requests()[0].head;
    assert!(head.has_token("upgrade", "websocket"), "{head:?}");
}

#[test]
fn a_bad_chunk_sent_with_the_head_never_reaches_the_upstream() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&config(up.addr, "", "", ""));
    let mut s = TcpStream::connect(tern.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(
        b"POST /action HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nZZZ-not-hex\r\nboom\r\n",
    )
    .expect("write");
    let _ = s.shutdown(Shutdown::Write);
    let mut c = Conn::new(s, None);
    let resp = c.read_response().expect("an answer");
    assert_eq!(resp.status, 400);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(up.conn_count(), 0, "tern contacted the upstream");
}
