//! Upstream connection reuse (keep-alive pool), stale pooled connections,
//! the single retry of idempotent requests, pool idle timeout, and load
//! balancing across the servers of a backend.

mod common;

use common::*;
use std::thread;
use std::time::Duration;

/// Fails if tern opens a new upstream connection per request (no pool) or
/// sends `Connection: close` upstream.
#[test]
fn sequential_requests_share_one_upstream_connection() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    for p in ["/1", "/2", "/3"] {
        let r = c.roundtrip(&get(p));
        assert_eq!(r.body_str(), p);
    }
    let reqs = up.requests();
    assert_eq!(
        up.conn_count(),
        1,
        "upstream connections used: {} (requests on: {:?})",
        up.conn_count(),
        reqs.iter().map(|r| r.conn).collect::<Vec<_>>()
    );
    assert_eq!(
        reqs.iter().map(|r| r.nth).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
}

#[test]
fn pooled_connection_is_shared_across_client_connections() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).workers(1).start();
    for p in ["/a", "/b", "/c"] {
        let mut c = tern.connect();
        assert_eq!(c.roundtrip(&get(p)).body_str(), p);
        drop(c);
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        up.conn_count(),
        1,
        "pool not reused across client connections"
    );
}

#[test]
fn connection_closed_by_upstream_while_idle_is_not_reused() {
    let (up, r) = after_the_upstream_closed(Duration::from_millis(200), &get("/second"));
    assert_eq!(r.status, 200, "{}", show(&r.raw));
    assert_eq!(r.body_str(), "/second");
    assert_eq!(up.conn_count(), 2);
}

/// Upstream: answers one request per connection (keep-alive framing, no
/// Connection: close) and closes right after.
fn answers_once_then_closes() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        if let Some(req) = c.read_request() {
            c.respond(200, &[], req.head.target().as_bytes());
        }
    })
}

/// Sends a GET through tern to an upstream that closes each connection
/// after one answer, waits `idle` (the FIN arrives and the connection sits
/// in the pool), then sends `second` on the same client connection.
fn after_the_upstream_closed(idle: Duration, second: &[u8]) -> (RecordingUpstream, Response) {
    let up = answers_once_then_closes();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/first")).body_str(), "/first");
    thread::sleep(idle);
    let r = c.roundtrip(second);
    (up, r)
}

/// A connection the upstream closed moments after answering: the pool's
/// peek finds the FIN and the GET goes on a fresh connection (and were the
/// FIN to arrive after the peek, the exchange would send it again there).
#[test]
fn a_get_on_a_connection_closed_moments_ago_is_sent_again_on_a_fresh_one() {
    let (up, r) = after_the_upstream_closed(Duration::from_millis(20), &get("/second"));
    assert_eq!(r.status, 200, "{}", show(&r.raw));
    assert_eq!(r.body_str(), "/second");
    assert_eq!(up.conn_count(), 2);
}

/// A request that can't be sent twice is never put on a pooled connection
/// the upstream closed, however recently it came back: the pool peeks
/// first. Without the peek the POST would meet the closed connection and,
/// not being retried (RFC 9110 §9.2.2), end in a 502.
#[test]
fn a_post_is_not_sent_on_a_connection_closed_moments_ago() {
    let (up, r) = after_the_upstream_closed(Duration::from_millis(20), &post("/pay", b"once"));
    assert_eq!(r.status, 200, "{}", show(&r.raw));
    assert_eq!(r.body_str(), "/pay");
    let posts: Vec<usize> = up
        .requests()
        .iter()
        .filter(|r| r.head.method() == "POST")
        .map(|r| r.conn)
        .collect();
    assert_eq!(
        posts,
        vec![1],
        "the POST went once, on the second connection"
    );
}

/// Upstream: answers `HEAD /late` with a head that promises a body, then,
/// a moment later, writes a whole response the next request on this
/// connection would take for its own (an origin that writes a HEAD's body
/// anyway, in a write of its own). Anything else gets its path back.
fn writes_past_its_head_answer() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        while let Some(req) = c.read_request() {
            if req.head.method() != "HEAD" {
                c.respond(200, &[], req.head.target().as_bytes());
                continue;
            }
            c.write(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n");
            thread::sleep(Duration::from_millis(2));
            c.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged");
        }
    })
}

/// Bytes an upstream sends after its answer ended are never read as the
/// next request's answer (RFC 9112 §6.3): the pooled connection they wait
/// on is dropped and the next request goes on a fresh one. Each round
/// takes the connection back moments after the HEAD, within one of the
/// pool's timer ticks (a pool that skipped its look at connections that
/// came back that recently served "forged" here).
#[test]
fn bytes_an_upstream_sent_past_its_answer_are_not_the_next_answer() {
    let up = writes_past_its_head_answer();
    let tern = Cfg::new(up.addr).workers(1).start();
    let mut c = tern.connect();
    let rounds = 5;
    for round in 0..rounds {
        c.send(b"HEAD /late HTTP/1.1\r\nHost: t\r\n\r\n");
        let head = c.read_response_to("HEAD").expect("the HEAD's answer");
        assert_eq!(head.status, 200, "{}", show(&head.raw));
        thread::sleep(Duration::from_millis(15));
        let path = format!("/next-{round}");
        let r = c.roundtrip(&get(&path));
        assert_eq!(r.body_str(), path, "round {round}: {}", show(&r.raw));
    }
    assert_eq!(
        up.conn_count(),
        1 + rounds,
        "a fresh connection after each HEAD"
    );
}

/// Upstream: answers the first request of each connection; on a later
/// request it reads it fully and closes without answering (the classic
/// keep-alive race).
fn answers_first_only() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        let Some(req) = c.read_request() else { return };
        c.respond(200, &[], req.head.target().as_bytes());
        let _ = c.read_request();
        // Return: the connection is closed without an answer.
    })
}

/// Fails if tern returns 502 instead of retrying the GET on a fresh
/// connection.
#[test]
fn get_is_retried_once_on_fresh_connection() {
    let up = answers_first_only();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/one")).body_str(), "/one");
    let r = c.roundtrip(&get("/two"));
    assert_eq!(r.status, 200, "{}", show(&r.raw));
    assert_eq!(r.body_str(), "/two");
    let seen: Vec<(usize, usize, String)> = up
        .requests()
        .iter()
        .map(|r| (r.conn, r.nth, r.head.target().to_string()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (0, 0, "/one".to_string()),
            (0, 1, "/two".to_string()),
            (1, 0, "/two".to_string())
        ]
    );
}

#[test]
fn post_is_not_retried_automatically() {
    // RFC 9110 §9.2.2: a proxy MUST NOT automatically retry non-idempotent
    // requests. The POST reaches the upstream once; the client gets a 502.
    let up = answers_first_only();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/one")).body_str(), "/one");
    c.send(&post("/pay", b"once"));
    let r = c.read_response_to("POST");
    thread::sleep(Duration::from_millis(200));
    let posts = up
        .requests()
        .iter()
        .filter(|r| r.head.method() == "POST")
        .count();
    assert_eq!(posts, 1, "POST sent {} times upstream", posts);
    if let Ok(r) = r {
        assert_eq!(r.status, 502, "{}", show(&r.raw));
    }
}

#[test]
fn retry_happens_at_most_once() {
    // First request answered (so the connection is pooled); every later
    // request on any connection is read and dropped without an answer.
    let up = RecordingUpstream::start({
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        move |c| {
            while let Some(req) = c.read_request() {
                if answered.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                c.respond(200, &[], req.head.target().as_bytes());
            }
        }
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/one")).body_str(), "/one");
    c.send(&get("/two"));
    let r = c.read_response();
    thread::sleep(Duration::from_millis(200));
    let tries = up
        .requests()
        .iter()
        .filter(|r| r.head.target() == "/two")
        .count();
    assert!((1..=2).contains(&tries), "GET /two sent {} times", tries);
    match r {
        Ok(r) => assert_eq!(r.status, 502, "{}", show(&r.raw)),
        Err(e) => panic!("expected a 502, got {:?}", e),
    }
}

#[test]
fn pool_idle_timeout_closes_upstream_connection() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).pool("idle_timeout", "\"300ms\"").start();
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/x")).body_str(), "/x");
    assert!(
        wait_until(Duration::from_secs(3), || up.conn_peer_eof(0)),
        "idle pooled connection not closed after idle_timeout"
    );
    // And a later request works on a new connection.
    assert_eq!(c.roundtrip(&get("/y")).body_str(), "/y");
    assert_eq!(up.conn_count(), 2);
}

#[test]
fn max_idle_per_server_zero_disables_reuse() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).pool("max_idle_per_server", "0").start();
    let mut c = tern.connect();
    for p in ["/1", "/2", "/3"] {
        assert_eq!(c.roundtrip(&get(p)).body_str(), p);
    }
    assert_eq!(
        up.conn_count(),
        3,
        "connections reused with max_idle_per_server = 0"
    );
    assert!(
        wait_until(Duration::from_secs(3), || (0..3)
            .all(|i| up.conn_peer_eof(i))),
        "unpooled upstream connections not closed"
    );
}

// --- load balancing -----------------------------------------------------------

#[test]
fn round_robin_across_servers() {
    let a = RecordingUpstream::echo();
    let b = RecordingUpstream::echo();
    let tern = Cfg::servers(&[a.addr, b.addr]).workers(1).start();
    for i in 0..4 {
        let mut c = tern.connect();
        let p = format!("/rr{}", i);
        assert_eq!(c.roundtrip(&get(&p)).body_str(), p);
    }
    assert_eq!(
        (a.request_count(), b.request_count()),
        (2, 2),
        "requests per server"
    );
}

#[test]
fn round_robin_on_one_client_connection() {
    let a = RecordingUpstream::echo();
    let b = RecordingUpstream::echo();
    let tern = Cfg::servers(&[a.addr, b.addr]).workers(1).start();
    let mut c = tern.connect();
    for i in 0..4 {
        let p = format!("/rr{}", i);
        assert_eq!(c.roundtrip(&get(&p)).body_str(), p);
    }
    assert_eq!((a.request_count(), b.request_count()), (2, 2));
}

/// Fails if tern returns 502 for requests that land on the dead server
/// instead of trying the next one.
#[test]
fn refusing_server_is_skipped() {
    let dead = dead_addr();
    let live = RecordingUpstream::echo();
    let tern = Cfg::servers(&[dead, live.addr]).workers(1).start();
    for i in 0..6 {
        let mut c = tern.connect();
        let p = format!("/s{}", i);
        let r = c.roundtrip(&get(&p));
        assert_eq!(r.status, 200, "request {}: {}", i, show(&r.raw));
        assert_eq!(r.body_str(), p);
    }
    assert_eq!(live.request_count(), 6);
}

#[test]
fn all_servers_refusing_is_502() {
    let tern = Cfg::servers(&[dead_addr(), dead_addr()]).start();
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/"));
    assert_eq!(r.status, 502, "{}", show(&r.raw));
}

/// Fails if tern pools an upstream connection that still has response
/// bytes in flight after the client went away: the next request would get
/// the rest of the old body as its response.
#[test]
fn client_abort_mid_response_does_not_poison_the_pool() {
    let up = RecordingUpstream::start(|c| {
        while let Some(req) = c.read_request() {
            if req.head.target() == "/big" {
                let body = vec![b'x'; 4 * 1024 * 1024];
                if !c.respond(200, &[], &body) {
                    return;
                }
            } else if !c.respond(200, &[], req.head.target().as_bytes()) {
                return;
            }
        }
    });
    let tern = Cfg::new(up.addr).workers(1).start();
    {
        let mut c = tern.connect();
        c.send(&get("/big"));
        c.read_size = 1024;
        let _ = c.fill(); // a little of the response, then go away
        drop(c);
    }
    thread::sleep(Duration::from_millis(200));
    for i in 0..3 {
        let mut c = tern.connect();
        let p = format!("/after/{}", i);
        let r = c.roundtrip(&get(&p));
        assert_eq!(r.status, 200, "{}", show(&r.raw));
        assert_eq!(r.body_str(), p);
    }
}

/// Concurrent clients, far above the old fixed cap of 64 idle connections
/// per server, at the default pool settings: after the first round every
/// request finds a pooled connection, so the upstream sees about one
/// connection per concurrent request, not one per request.
#[test]
fn the_default_pool_keeps_what_concurrency_needed() {
    const CLIENTS: usize = 200;
    const ROUNDS: usize = 4;
    let up = RecordingUpstream::start(|c| {
        while let Some(_req) = c.read_request() {
            // Long enough for every client's request to be in flight at once.
            thread::sleep(Duration::from_millis(300));
            if !c.respond(200, &[], b"ok") {
                return;
            }
        }
    });
    let tern = Cfg::new(up.addr).workers(1).start();
    let mut clients: Vec<Conn> = (0..CLIENTS).map(|_| tern.connect()).collect();
    for round in 0..ROUNDS {
        for c in &mut clients {
            c.send(&get("/r"));
        }
        for c in &mut clients {
            let r = c.read_response().expect("response");
            assert_eq!(r.status, 200, "round {round}");
        }
    }
    let connects = up.conn_count();
    assert!(
        connects <= CLIENTS + CLIENTS / 10,
        "{connects} upstream connections for {} requests from {CLIENTS} clients: the pool churned",
        CLIENTS * ROUNDS
    );
}
