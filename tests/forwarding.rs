//! What reaches the upstream: request line and Host rewriting for
//! absolute-form targets, hop-by-hop removal in both directions, the
//! X-Forwarded-* headers, header order and bytes, routing, pipelining,
//! HTTP/1.0 clients and Expect: 100-continue.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Headers the proxy itself adds to a forwarded request.
fn is_added(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "x-forwarded-for" || n == "x-forwarded-proto" || n == "x-forwarded-host"
}

fn one_request(up: &RecordingUpstream) -> SeenRequest {
    assert!(
        up.wait_requests(1, Duration::from_secs(5)),
        "upstream got no request"
    );
    up.requests().remove(0)
}

#[test]
fn absolute_form_target_is_rewritten_to_origin_form_and_host() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = c.roundtrip(b"GET http://example.test/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(r.status, 200);
    let req = one_request(&up);
    let raw = req.head.raw.clone();
    assert!(
        raw.starts_with(b"GET /p?q=1 HTTP/1.1\r\n"),
        "request line: {}",
        show(&raw)
    );
    assert_eq!(
        req.head.header_all("host"),
        vec!["example.test"],
        "{}",
        show(&raw)
    );
    assert_eq!(
        req.head.header_all("x-forwarded-host"),
        vec!["example.test"],
        "{}",
        show(&raw)
    );
}

#[test]
fn origin_form_request_line_passes_unchanged() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    // Not normalised: dot segments and percent-encoding pass as sent.
    let target = "/a/b%20c/./d/../e?x=1&y=%2F";
    let r = c.roundtrip(format!("DELETE {} HTTP/1.1\r\nHost: h\r\n\r\n", target).as_bytes());
    assert_eq!(r.status, 200);
    let req = one_request(&up);
    let first = format!("DELETE {} HTTP/1.1\r\n", target);
    assert!(
        req.head.raw.starts_with(first.as_bytes()),
        "request line changed: {}",
        show(&req.head.raw)
    );
}

/// Fails if tern forwards any hop-by-hop header (or a header named in
/// Connection), or reorders / rewrites the end-to-end ones.
#[test]
fn hop_by_hop_request_headers_are_removed_others_pass_in_order() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let req = b"GET /hop HTTP/1.1\r\n\
Host: hop.test\r\n\
X-First: 1\r\n\
Connection: close, X-Foo\r\n\
X-Foo: 1\r\n\
Keep-Alive: timeout=5\r\n\
Proxy-Connection: keep-alive\r\n\
TE: trailers\r\n\
Trailer: X-T\r\n\
Upgrade: foo/2\r\n\
x-MiXeD-CaSe: Some  Value;q=\"a,b\"\r\n\
Accept: */*\r\n\
Cookie: a=1\r\n\
Cookie: b=2\r\n\
X-Obs-Text: caf\xc3\xa9\r\n\
\r\n";
    let r = c.roundtrip(req);
    assert_eq!(r.status, 200);
    let seen = one_request(&up);
    let raw = show(&seen.head.raw);
    for h in [
        "x-foo",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ] {
        assert!(!seen.head.has(h), "{} reached the upstream:\n{}", h, raw);
    }
    // tern may talk keep-alive to the upstream itself, but the client's
    // Connection header (close, X-Foo) must not be forwarded.
    for v in seen.head.header_all("connection") {
        assert!(
            v.eq_ignore_ascii_case("keep-alive"),
            "client Connection header forwarded: {:?}\n{}",
            v,
            raw
        );
    }
    let rest: Vec<(String, Vec<u8>)> = seen
        .head
        .headers
        .iter()
        .filter(|(n, _)| !is_added(n) && !n.eq_ignore_ascii_case("connection"))
        .cloned()
        .collect();
    let expected: Vec<(String, Vec<u8>)> = vec![
        ("Host".into(), b"hop.test".to_vec()),
        ("X-First".into(), b"1".to_vec()),
        ("x-MiXeD-CaSe".into(), b"Some  Value;q=\"a,b\"".to_vec()),
        ("Accept".into(), b"*/*".to_vec()),
        ("Cookie".into(), b"a=1".to_vec()),
        ("Cookie".into(), b"b=2".to_vec()),
        ("X-Obs-Text".into(), b"caf\xc3\xa9".to_vec()),
    ];
    assert_eq!(rest, expected, "end-to-end headers differ:\n{}", raw);
    // The client asked for close: tern must close after the response.
    assert!(
        c.expect_close(Duration::from_secs(3)).is_ok(),
        "Connection: close ignored"
    );
}

#[test]
fn hop_by_hop_response_headers_are_removed() {
    let up = RecordingUpstream::start(|c| {
        while c.read_request().is_some() {
            let ok = c.write(
                b"HTTP/1.1 200 OK\r\n\
Connection: X-Bar\r\n\
X-Bar: secret\r\n\
Keep-Alive: timeout=5, max=100\r\n\
Trailer: X-T\r\n\
Proxy-Connection: keep-alive\r\n\
X-Keep: yes\r\n\
Set-Cookie: a=1\r\n\
Set-Cookie: b=2\r\n\
Content-Length: 2\r\n\
\r\n\
ok",
            );
            if !ok {
                return;
            }
        }
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/"));
    let raw = show(&r.raw);
    assert_eq!(r.status, 200, "{}", raw);
    assert_eq!(r.body, b"ok");
    for h in ["x-bar", "keep-alive", "trailer", "proxy-connection"] {
        assert!(!r.has(h), "{} reached the client:\n{}", h, raw);
    }
    for v in r.head.header_all("connection") {
        let v = v.to_ascii_lowercase();
        assert!(
            v == "keep-alive" || v == "close",
            "upstream Connection header relayed: {:?}\n{}",
            v,
            raw
        );
    }
    assert_eq!(r.header("x-keep").as_deref(), Some("yes"));
    assert_eq!(
        r.head.header_all("set-cookie"),
        vec!["a=1", "b=2"],
        "{}",
        raw
    );
    // Still keep-alive: a second request works on the same connection.
    let r2 = c.roundtrip(&get("/2"));
    assert_eq!(r2.status, 200);
}

#[test]
fn x_forwarded_for_is_appended() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.roundtrip(b"GET / HTTP/1.1\r\nHost: xff.test\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n");
    let seen = one_request(&up);
    assert_eq!(
        seen.head.header_all("x-forwarded-for"),
        vec!["1.2.3.4, 127.0.0.1"],
        "{}",
        show(&seen.head.raw)
    );
}

#[test]
fn x_forwarded_headers_are_added() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.roundtrip(b"GET / HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n");
    let seen = one_request(&up);
    let raw = show(&seen.head.raw);
    assert_eq!(
        seen.head.header_all("x-forwarded-for"),
        vec!["127.0.0.1"],
        "{}",
        raw
    );
    assert_eq!(
        seen.head.header_all("x-forwarded-proto"),
        vec!["http"],
        "{}",
        raw
    );
    assert_eq!(
        seen.head.header_all("x-forwarded-host"),
        vec!["Example.COM:8080"],
        "{}",
        raw
    );
    assert_eq!(
        seen.head.header_all("host"),
        vec!["Example.COM:8080"],
        "{}",
        raw
    );
}

#[test]
fn routes_first_match_wins() {
    let api = RecordingUpstream::echo();
    let app = RecordingUpstream::echo();
    let tern = Cfg::empty()
        .backend("api", &[api.addr])
        .backend("app", &[app.addr])
        .route("/api/", "api")
        .route("/", "app")
        .start();
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/api/users")).body_str(), "/api/users");
    assert_eq!(c.roundtrip(&get("/apix")).body_str(), "/apix");
    assert_eq!(c.roundtrip(&get("/index.html")).body_str(), "/index.html");
    let api_paths: Vec<String> = api
        .requests()
        .iter()
        .map(|r| r.head.target().to_string())
        .collect();
    let app_paths: Vec<String> = app
        .requests()
        .iter()
        .map(|r| r.head.target().to_string())
        .collect();
    assert_eq!(api_paths, vec!["/api/users"]);
    assert_eq!(app_paths, vec!["/apix", "/index.html"]);
}

#[test]
fn unmatched_route_is_refused_not_forwarded() {
    let api = RecordingUpstream::echo();
    let tern = Cfg::empty()
        .backend("api", &[api.addr])
        .route("/api/", "api")
        .start();
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/other"));
    // The contract doesn't name the status; 404 is expected, any error is
    // accepted as long as nothing is forwarded.
    assert!((400..600).contains(&r.status), "{}", show(&r.raw));
    assert_eq!(api.total_bytes(), 0);
}

/// Fails if tern reads only the first request of a segment, answers out of
/// order, or drops buffered pipelined requests.
#[test]
fn pipelined_requests_answered_in_order() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let mut all = get("/one");
    all.extend_from_slice(&get("/two"));
    all.extend_from_slice(&get("/three"));
    c.send(&all);
    for p in ["/one", "/two", "/three"] {
        let r = c
            .read_response()
            .unwrap_or_else(|e| panic!("{}: {:?}", p, e));
        assert_eq!(r.status, 200);
        assert_eq!(r.body_str(), p);
    }
}

#[test]
fn pipelined_requests_with_bodies() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let mut all = post("/a", b"first body");
    all.extend_from_slice(
        b"POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n5\r\n body\r\n0\r\n\r\n",
    );
    all.extend_from_slice(&get("/c"));
    c.send(&all);
    let bodies: Vec<String> = (0..3)
        .map(|_| c.read_response().unwrap().body_str())
        .collect();
    assert_eq!(bodies, vec!["first body", "second body", "/c"]);
}

#[test]
fn http10_without_keep_alive_is_closed_after_response() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(b"GET /ten HTTP/1.0\r\nHost: x\r\n\r\n");
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "/ten");
    assert!(
        c.expect_close(Duration::from_secs(3)).is_ok(),
        "HTTP/1.0 connection without keep-alive left open"
    );
}

#[test]
fn http10_without_host_is_accepted() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(b"GET /nohost HTTP/1.0\r\n\r\n");
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200, "{}", show(&r.raw));
}

#[test]
fn http10_with_keep_alive_serves_a_second_request() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let req = |p: &str| {
        format!(
            "GET {} HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
            p
        )
    };
    c.send(req("/k1").as_bytes());
    let r = c.read_response().expect("first response");
    assert_eq!(r.body_str(), "/k1");
    assert!(
        !r.close_delimited,
        "keep-alive response must be length-delimited: {}",
        show(&r.raw)
    );
    c.send(req("/k2").as_bytes());
    let r = c
        .read_response()
        .expect("second response on the same connection");
    assert_eq!(r.body_str(), "/k2");
}

/// Fails (times out) if tern neither answers `100 Continue` itself nor
/// relays the upstream's, or if it waits for the body before forwarding.
#[test]
fn expect_100_continue() {
    let up = RecordingUpstream::echo(); // sends 100 Continue if it sees Expect
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let start = Instant::now();
    let r = c.read_response_to("POST").expect("100 Continue");
    assert_eq!(r.status, 100, "{}", show(&r.raw));
    assert!(start.elapsed() < Duration::from_secs(4));
    c.send(b"hello");
    let (_, fin) = c.read_final_response("POST").expect("final response");
    assert_eq!(fin.status, 200);
    assert_eq!(fin.body_str(), "hello");
    let seen = one_request(&up);
    assert_eq!(seen.body, b"hello");
}

/// Found by fuzzing (fuzz/regressions/request_head/): RFC 9110 §10.1.1 has a
/// server ignore 100-continue in an HTTP/1.0 request, but forwarded as
/// HTTP/1.1 the expectation came alive upstream.
#[test]
fn an_http10_requests_expect_is_not_forwarded() {
    let up = RecordingUpstream::echo(); // sends 100 Continue if it sees Expect
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(
        b"POST /e HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    );
    let (_, fin) = c.read_final_response("POST").expect("final response");
    assert_eq!(fin.status, 200);
    let seen = one_request(&up);
    assert!(!seen.head.has("expect"), "{}", show(&seen.head.raw));
    assert_eq!(seen.body, b"hello");
}

#[test]
fn expect_100_continue_then_next_request() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response_to("POST").expect("100 Continue");
    assert_eq!(r.status, 100);
    c.send(b"abc");
    let (_, fin) = c.read_final_response("POST").expect("final");
    assert_eq!(fin.body_str(), "abc");
    // No stray second 100 Continue is left on the connection: the very
    // next response read is the final one for the next request.
    c.send(&get("/next"));
    let r = c.read_response().expect("next response");
    assert_eq!(r.status, 200, "{}", show(&r.raw));
    assert_eq!(r.body_str(), "/next");
}
