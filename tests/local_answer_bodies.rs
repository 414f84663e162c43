//! Request bodies tern answers without needing (a `respond` route, a
//! redirect, a static file, no route): a small one is read and dropped
//! after the answer so that the connection carries the next request, as
//! nginx does (a client waiting for a `100 Continue` gets one first); a
//! larger or a malformed one ends the connection. No byte of a dropped body
//! is ever taken for a request.

mod common;

use common::routing::*;
use common::*;
use std::time::Duration;

/// One worker, a `respond` route at /beacon, a redirect at /old, static
/// files at /files (`site`), and everything else to `app`.
fn start(app: &RecordingUpstream) -> (Tern, TempDir) {
    let site = TempDir::new("drop-body");
    site.write("page.txt", b"a page\n");
    let tern = Tern::start(&format!(
        "[server]\nworkers = 1\n[server.timeouts]\nclient = \"2s\"\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\npath_prefix = \"/beacon\"\nrespond = {{ status = 204 }}\n\
         [[route]]\npath_prefix = \"/old\"\nredirect = {{ path = \"/new\", status = 308 }}\n\
         [[route]]\npath_prefix = \"/files\"\nstatic = {{ root = \"{}\" }}\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\nservers = [\"{}\"]\n",
        site.path.display(),
        app.addr
    ));
    (tern, site)
}

/// A beacon whose 10-byte body has sent 4 bytes so far.
const HALF_A_BODY: &[u8] = b"POST /beacon HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhalf";

/// A request that, read as a request, would reach the upstream.
const SMUGGLED: &[u8] = b"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";

fn post(target: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn post_chunked(target: &str, chunks: &[&[u8]]) -> Vec<u8> {
    let mut req =
        format!("POST {target} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for chunk in chunks {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    req
}

/// A body `len` bytes long that holds a whole request at its start.
fn body_with_request(len: usize) -> Vec<u8> {
    let mut body = SMUGGLED.to_vec();
    body.resize(len, b'x');
    body
}

/// What the app saw: each request's method and target.
fn seen(app: &RecordingUpstream) -> Vec<String> {
    let line = |r: &SeenRequest| format!("{} {}", r.head.method(), r.head.target());
    app.requests().iter().map(line).collect()
}

fn keeps_alive(r: &Response) -> bool {
    !r.header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"))
}

#[test]
fn a_small_body_is_dropped_and_the_connection_goes_on() {
    let app = named("app");
    let (tern, _site) = start(&app);
    let mut c = tern.connect();
    for target in ["/beacon", "/old", "/beacon"] {
        let r = c.roundtrip(&post(target, &body_with_request(5000)));
        assert!(r.status == 204 || r.status == 308, "{target}: {}", r.status);
        assert!(keeps_alive(&r), "{target}: said close");
    }
    let r = c.roundtrip(&get("/next"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "app /next"));
    assert_eq!(
        seen(&app),
        ["GET /next"],
        "the app saw only the request after the bodies"
    );
}

#[test]
fn a_static_route_drops_a_small_body_too() {
    let app = named("app");
    let (tern, _site) = start(&app);
    let mut c = tern.connect();
    let r = c.roundtrip(&post("/files/page.txt", &body_with_request(3000)));
    assert_eq!(r.status, 405);
    assert!(keeps_alive(&r), "405 said close");
    let mut get_with_body =
        b"GET /files/page.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 40\r\n\r\n".to_vec();
    get_with_body.extend_from_slice(&body_with_request(40));
    let r = c.roundtrip(&get_with_body);
    assert_eq!((r.status, r.body_str().as_str()), (200, "a page\n"));
    assert!(keeps_alive(&r), "200 said close");
    let r = c.roundtrip(&get("/next"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "app /next"));
    assert_eq!(seen(&app), ["GET /next"]);
    // Too large to drop: the reply says close, and the connection ends.
    let r = c.roundtrip(&post("/files/page.txt", &body_with_request(70_000)));
    assert_eq!(r.status, 405);
    assert!(!keeps_alive(&r));
    assert!(c.expect_close(Duration::from_secs(5)).is_ok());
}

#[test]
fn a_chunked_body_and_a_pipelined_request_behind_it() {
    let app = named("app");
    let (tern, _site) = start(&app);
    let mut c = tern.connect();
    let mut both = post_chunked("/beacon", &[SMUGGLED, b"more", &[b'y'; 3000]]);
    both.extend_from_slice(&get("/after"));
    c.send(&both);
    let first = c.read_response().expect("the beacon's answer");
    assert_eq!(first.status, 204);
    assert!(keeps_alive(&first));
    let second = c.read_response().expect("the pipelined request's answer");
    assert_eq!(
        (second.status, second.body_str().as_str()),
        (200, "app /after")
    );
    assert_eq!(seen(&app), ["GET /after"]);
}

#[test]
fn a_body_that_comes_after_the_answer_is_waited_for() {
    let app = named("app");
    let (tern, _site) = start(&app);
    let mut c = tern.connect();
    c.send(HALF_A_BODY);
    let r = c
        .read_response()
        .expect("answered before the body is whole");
    assert!(r.status == 204 && keeps_alive(&r));
    std::thread::sleep(Duration::from_millis(100));
    c.send(b"-whole");
    let r = c.roundtrip(&get("/next"));
    assert_eq!((r.status, r.body_str().as_str()), (200, "app /next"));
    assert_eq!(seen(&app), ["GET /next"]);
}

#[test]
fn a_body_too_large_to_drop_ends_the_connection() {
    let app = named("app");
    let (tern, _site) = start(&app);
    // Said by its length: the answer says close.
    let mut c = tern.connect();
    let r = c.roundtrip(&post("/beacon", &body_with_request(70_000)));
    assert_eq!(r.status, 204);
    assert!(!keeps_alive(&r), "a 70,000-byte body is not dropped");
    assert!(c.expect_close(Duration::from_secs(5)).is_ok());
    // Chunked, found larger on the way: the connection ends after the answer.
    let mut c = tern.connect();
    let big = vec![b'z'; 40_000];
    c.send(&post_chunked("/beacon", &[SMUGGLED, &big, &big]));
    let r = c.read_response().expect("answered");
    assert_eq!(r.status, 204);
    assert!(c.expect_close(Duration::from_secs(5)).is_ok(), "still open");
    assert_eq!(app.request_count(), 0);
}

#[test]
fn a_malformed_or_missing_body_ends_the_connection() {
    let app = named("app");
    let (tern, _site) = start(&app);
    let mut c = tern.connect();
    let mut bad =
        b"POST /beacon HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    bad.extend_from_slice(b"zz\r\n");
    bad.extend_from_slice(SMUGGLED);
    c.send(&bad);
    assert_eq!(c.read_response().expect("answered").status, 204);
    assert!(
        c.expect_close(Duration::from_secs(5)).is_ok(),
        "a bad chunk"
    );
    // A body that never comes: closed after the `client` timeout (2 s).
    let mut c = tern.connect();
    c.send(HALF_A_BODY);
    assert_eq!(c.read_response().expect("answered").status, 204);
    assert!(
        c.expect_close(Duration::from_secs(10)).is_ok(),
        "still open"
    );
    assert_eq!(app.request_count(), 0);
}

#[test]
fn a_body_trickled_past_the_client_timeout_is_cut_off() {
    // A byte every 200 ms of a 100-byte body: each read comes well within
    // the 2 s `client` timeout, but the whole body would take 20 s. The
    // timeout is for the whole body, so the connection ends long before.
    let app = named("app");
    let (tern, _site) = start(&app);
    let mut c = tern.connect();
    c.send(b"POST /beacon HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n");
    assert_eq!(c.read_response().expect("answered").status, 204);
    let start = std::time::Instant::now();
    let mut cut_off = false;
    while start.elapsed() < Duration::from_secs(15) {
        if c.try_send(b"x").is_err() {
            cut_off = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if c.expect_close(Duration::from_millis(1)).is_ok() {
            cut_off = true;
            break;
        }
    }
    assert!(
        cut_off,
        "still open after {:?} of trickling",
        start.elapsed()
    );
    assert_eq!(app.request_count(), 0);
}

#[test]
fn a_client_waiting_for_100_continue_gets_one_and_keeps_its_connection() {
    let app = named("app");
    let (tern, _site) = start(&app);
    for (target, status) in [("/beacon", 204), ("/files/page.txt", 405)] {
        let mut c = tern.connect();
        let head = format!(
            "POST {target} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\
             Expect: 100-continue\r\n\r\n",
            SMUGGLED.len()
        );
        c.send(head.as_bytes());
        assert_eq!(c.read_response().expect("an interim answer").status, 100);
        c.send(SMUGGLED);
        let r = c.read_response().expect("the answer");
        assert_eq!(r.status, status, "{target}");
        assert!(keeps_alive(&r), "{target}: said close");
        let r = c.roundtrip(&get("/next"));
        assert_eq!((r.status, r.body_str().as_str()), (200, "app /next"));
    }
    assert_eq!(seen(&app), ["GET /next", "GET /next"]);
    // Too large to drop: no `100 Continue` (the body won't be read), and close.
    let mut c = tern.connect();
    c.send(b"POST /beacon HTTP/1.1\r\nHost: h\r\nContent-Length: 70000\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response().expect("the answer");
    assert_eq!(r.status, 204);
    assert!(!keeps_alive(&r));
}
