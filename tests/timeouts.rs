//! Timeouts and upstream failures: client_header → 408, client_idle →
//! silent close, client (body stall) → close, upstream refused → 502,
//! server timeout → 504 (global and per-backend), connect timeout → 504.
//!
//! Timing assertions are only generous upper bounds.

mod common;

use common::*;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

/// Fails if tern never times out a partial head, answers something other
/// than 408, or keeps the connection afterwards.
#[test]
fn partial_head_gets_408_and_close() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).timeout("client_header", "1s").start();
    let mut c = tern.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n");
    let start = Instant::now();
    let r = c.read_response().expect("408 response");
    assert_eq!(r.status, 408, "{}", show(&r.raw));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        c.expect_close(Duration::from_secs(3)).is_ok(),
        "not closed after 408"
    );
    assert_eq!(up.total_bytes(), 0);
}

#[test]
fn slow_head_trickle_does_not_extend_client_header_timeout() {
    // One byte every 150 ms: the 1 s budget is for the whole head, so the
    // 408 comes long before the ~6 s the trickle would take.
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).timeout("client_header", "1s").start();
    let mut c = tern.connect();
    let head = b"GET /slowloris HTTP/1.1\r\nHost: x\r\nX-Pad: aaaaaaaaaa\r\n\r\n";
    let start = Instant::now();
    let mut sent_all = true;
    for b in head.iter() {
        if c.try_send(&[*b]).is_err() {
            sent_all = false;
            break;
        }
        if start.elapsed() > Duration::from_secs(4) {
            break;
        }
        thread::sleep(Duration::from_millis(150));
        // Stop trickling once tern answered.
        c.stream.set_nonblocking(true).unwrap();
        let got = c.fill();
        c.stream.set_nonblocking(false).unwrap();
        if matches!(got, Ok(n) if n > 0) || c.eof {
            sent_all = false;
            break;
        }
    }
    assert!(!sent_all, "tern waited for the whole trickled head");
    c.set_read_timeout(Duration::from_secs(3));
    let r = c.read_response().expect("408");
    assert_eq!(r.status, 408, "{}", show(&r.raw));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(up.total_bytes(), 0);
}

#[test]
fn silent_new_connection_is_closed() {
    // A connection that never sends a byte is closed (with a 408 or
    // silently) once the header/idle timeout passes.
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr)
        .timeout("client_header", "1s")
        .timeout("client_idle", "1s")
        .start();
    let mut c = tern.connect();
    let res = c.expect_close(Duration::from_secs(4));
    match res {
        Ok(bytes) => assert!(
            bytes.is_empty() || status_of(&bytes) == Some(408),
            "{}",
            show(&bytes)
        ),
        Err(_) => panic!("idle new connection not closed"),
    }
}

/// Fails if idle keep-alive connections are never closed, or if tern
/// writes anything (e.g. a 408) on the idle connection.
#[test]
fn idle_keep_alive_connection_closed_silently() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).timeout("client_idle", "1s").start();
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/x")).status, 200);
    let start = Instant::now();
    match c.expect_close(Duration::from_secs(4)) {
        Ok(extra) => assert!(extra.is_empty(), "bytes on idle close: {}", show(&extra)),
        Err(_) => panic!("idle keep-alive connection still open after 4 s"),
    }
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "closed too early"
    );
}

#[test]
fn keep_alive_connection_used_within_idle_timeout_stays_open() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).timeout("client_idle", "1s").start();
    let mut c = tern.connect();
    for i in 0..4 {
        let p = format!("/{}", i);
        assert_eq!(c.roundtrip(&get(&p)).body_str(), p);
        thread::sleep(Duration::from_millis(400));
    }
}

#[test]
fn stalled_request_body_closes_connection() {
    let up = RecordingUpstream::silent();
    let tern = Cfg::new(up.addr).timeout("client", "1s").start();
    let mut c = tern.connect();
    c.send(b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    match c.expect_close(Duration::from_secs(3)) {
        Ok(bytes) => assert!(
            bytes.is_empty() || matches!(status_of(&bytes), Some(408) | Some(400)),
            "{}",
            show(&bytes)
        ),
        Err(b) => panic!("stalled body: connection still open; got {}", show(&b)),
    }
}

/// A body that fits one buffer is read whole before an upstream is chosen
/// (nginx buffers request bodies): a client trickling it holds no upstream
/// connection, and no application sees half a request.
#[test]
fn a_small_body_is_read_whole_before_any_upstream_is_contacted() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\nfirst");
    thread::sleep(Duration::from_millis(500));
    assert_eq!(up.conn_count(), 0, "the upstream was contacted mid-body");
    c.send(b" then the rest.");
    let r = c.read_response().expect("a response");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "first then the rest.")
    );
}

#[test]
fn a_small_body_that_stops_coming_is_408_and_never_reaches_the_upstream() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).timeout("client", "1s").start();
    let mut c = tern.connect();
    c.send(b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    match c.expect_close(Duration::from_secs(5)) {
        Ok(bytes) => assert_eq!(status_of(&bytes), Some(408), "{}", show(&bytes)),
        Err(b) => panic!("stalled body: connection still open; got {}", show(&b)),
    }
    assert_eq!(
        up.conn_count(),
        0,
        "the upstream saw a request never sent whole"
    );
}

/// Past one buffer a body streams as it comes (HAProxy's default): tern
/// holds no more than a buffer of it.
#[test]
fn a_body_larger_than_a_buffer_streams_to_the_upstream_as_it_comes() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
    c.send(&[b'u'; 1000]);
    assert!(
        wait_until(Duration::from_secs(5), || up.conn_count() == 1),
        "a large body waited for its end before going upstream"
    );
    c.send(&[b'u'; 99_000]);
    let r = c.read_response().expect("a response");
    assert_eq!((r.status, r.body.len()), (200, 100_000));
}

#[test]
fn upstream_refused_is_502() {
    let tern = Cfg::new(dead_addr()).start();
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/"));
    assert_eq!(r.status, 502, "{}", show(&r.raw));
    // The client connection survives an upstream error.
    let r = c.roundtrip(&get("/again"));
    assert_eq!(r.status, 502);
}

fn never_answers() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        let _ = c.read_request();
        c.conn.set_read_timeout(Duration::from_secs(8));
        let _ = c.conn.read_to_eof();
    })
}

/// A client that gives up while tern waits for the upstream's answer (an
/// abandoned long-poll) frees the upstream connection at once, not when the
/// server timeout (60 s here) runs out. Found by the soak's abandoning
/// clients: tern held both sockets of every abandoned poll.
#[test]
fn a_client_that_leaves_frees_the_upstream_at_once() {
    let up = never_answers();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(&get("/poll/news"));
    assert!(
        wait_until(Duration::from_secs(5), || up.conn_count() == 1
            && !up.conn_bytes(0).is_empty()),
        "the request never reached the upstream"
    );
    drop(c);
    assert!(
        wait_until(Duration::from_secs(5), || up.conn_peer_eof(0)),
        "upstream connection kept after the client left"
    );
}

/// Fails if tern waits for the upstream forever, or past the configured
/// server timeout by a wide margin, or answers other than 504.
#[test]
fn server_timeout_is_504() {
    let up = never_answers();
    let tern = Cfg::new(up.addr).timeout("server", "1s").start();
    let mut c = tern.connect();
    let start = Instant::now();
    let r = c.roundtrip(&get("/slow"));
    assert_eq!(r.status, 504, "{}", show(&r.raw));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        wait_until(Duration::from_secs(3), || up.conn_peer_eof(0)),
        "upstream connection kept after the timeout"
    );
}

#[test]
fn backend_server_timeout_overrides_global() {
    let up = never_answers();
    let tern = Cfg::new(up.addr)
        .timeout("server", "30s")
        .backend_timeout("app", "server", "1s")
        .start();
    let mut c = tern.connect();
    let start = Instant::now();
    let r = c.roundtrip(&get("/slow"));
    assert_eq!(r.status, 504, "{}", show(&r.raw));
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn slow_but_within_server_timeout_succeeds() {
    let up = RecordingUpstream::start(|c| {
        while let Some(req) = c.read_request() {
            thread::sleep(Duration::from_millis(500));
            c.respond(200, &[], req.head.target().as_bytes());
        }
    });
    let tern = Cfg::new(up.addr).timeout("server", "2s").start();
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/patient")).status, 200);
}

/// A listener with backlog 0 whose accept queue is filled, so further SYNs
/// are dropped by the kernel and a connect hangs until its timeout.
/// Returns the socket (keep it alive) and the filler connections.
fn blackhole() -> (socket2::Socket, Vec<TcpStream>, std::net::SocketAddr) {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..3 {
        if let Ok(f) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            fillers.push(f);
        }
    }
    (s, fillers, addr)
}

/// Connect timeout: on Linux a listen(0) socket accepts one connection
/// into its queue; with the queue full, SYNs are dropped (not refused),
/// so tern's connect hangs and the 300 ms connect timeout must fire.
#[test]
fn connect_timeout_is_504() {
    let (_sock, fillers, addr) = blackhole();
    assert!(!fillers.is_empty(), "could not fill the accept queue");
    // Make sure the blackhole really drops SYNs now (the test is only
    // meaningful if a plain connect times out).
    let probe = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    assert!(
        probe.is_err(),
        "environment: the backlog-0 listener still accepts connections"
    );
    let tern = Cfg::new(addr).timeout("connect", "300ms").start();
    let mut c = tern.connect();
    let start = Instant::now();
    let r = c.roundtrip(&get("/"));
    assert_eq!(r.status, 504, "{}", show(&r.raw));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn backend_connect_timeout_overrides_global() {
    let (_sock, _fillers, addr) = blackhole();
    let tern = Cfg::new(addr)
        .timeout("connect", "30s")
        .backend_timeout("app", "connect", "300ms")
        .start();
    let mut c = tern.connect();
    let start = Instant::now();
    let r = c.roundtrip(&get("/"));
    assert_eq!(r.status, 504, "{}", show(&r.raw));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?}",
        start.elapsed()
    );
}
