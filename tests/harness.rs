//! Self-tests of the harness in tests/common (no tern involved): the
//! recording upstream, the response parser, WebSocket frames and the config
//! renderer. If these fail, the other suites' verdicts can't be trusted.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn echo_upstream_records_and_answers() {
    let up = RecordingUpstream::echo();
    let mut c = Conn::connect(up.addr);
    let r = c.roundtrip(&get("/hello"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "/hello");
    let body = b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n";
    let r = c.roundtrip(body);
    assert_eq!(r.body_str(), "abc");
    let mut all = get("/hello");
    all.extend_from_slice(body);
    assert!(up.wait_requests(2, Duration::from_secs(2)));
    assert_eq!(up.conn_bytes(0), all);
    let reqs = up.requests();
    assert_eq!(reqs[1].raw_body, b"3;x=y\r\nabc\r\n0\r\n\r\n");
    assert_eq!((reqs[1].conn, reqs[1].nth), (0, 1));
    drop(c);
    assert!(wait_until(Duration::from_secs(2), || up.conn_peer_eof(0)));
}

#[test]
fn response_parser_framings() {
    let up = RecordingUpstream::start(|c| {
        while let Some(req) = c.read_request() {
            let out: &[u8] = match req.head.target() {
                "/cl" => b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
                "/chunked" => {
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;e\r\nc\r\n0\r\nT: 1\r\n\r\n"
                }
                "/head" => b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
                "/hints" => b"HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                _ => b"HTTP/1.1 200 OK\r\n\r\nuntil close",
            };
            c.write(out);
            if req.head.target() == "/close" {
                return;
            }
        }
    });
    let mut c = Conn::connect(up.addr);
    let r = c.roundtrip(&get("/cl"));
    assert_eq!(r.body, b"abc");
    let r = c.roundtrip(&get("/chunked"));
    assert!(r.chunked);
    assert_eq!(r.body, b"abc");
    c.send(b"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_response_to("HEAD").unwrap();
    assert!(r.body.is_empty());
    c.send(&get("/hints"));
    let (interim, fin) = c.read_final_response("GET").unwrap();
    assert_eq!(interim.len(), 1);
    assert_eq!(interim[0].header("link").as_deref(), Some("<a>"));
    assert_eq!(fin.status, 204);
    let r = c.roundtrip(&get("/close"));
    assert!(r.close_delimited);
    assert_eq!(r.body, b"until close");
}

#[test]
fn truncated_response_is_an_error() {
    let up = RecordingUpstream::start(|c| {
        if c.read_request().is_some() {
            c.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        }
    });
    let mut c = Conn::connect(up.addr);
    c.send(&get("/"));
    match c.read_response() {
        Err(RespErr::Closed { partial }) => assert!(partial.ends_with(b"abc")),
        other => panic!("{:?}", other),
    }
}

#[test]
fn raw_request_and_status() {
    let up = RecordingUpstream::start(|c| {
        if c.read_head().is_some() {
            c.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let (resp, closed) = raw_request(up.addr, &get("/"));
    assert!(closed);
    assert_eq!(status_of(&resp), Some(400));
    assert_eq!(status_of(b"garbage\r\n"), None);
}

#[test]
fn websocket_frame_roundtrip() {
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
        let payload = pattern(len, len as u64 + 1);
        for mask in [None, Some([1, 2, 3, 4])] {
            let f = ws_encode(true, 2, &payload, mask);
            let (d, n) = ws_decode(&f).unwrap();
            assert_eq!(n, f.len());
            assert_eq!(d.payload, payload);
            assert_eq!(d.masked, mask.is_some());
            assert!(ws_decode(&f[..f.len() - 1]).is_none() || len == 0);
        }
    }
}

#[test]
fn config_renders_valid_toml() {
    let a = dead_addr();
    let cfg = Cfg::servers(&[a, a])
        .limit("max_headers", 10)
        .timeout("client_header", "1s")
        .pool("idle_timeout", "\"300ms\"")
        .backend_timeout("app", "server", "1s");
    let text = cfg.render();
    let v: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{}\n{}", e, text));
    assert_eq!(
        v["backend"]["app"]["servers"][1]["address"].as_str(),
        Some(a.to_string().as_str())
    );
    assert_eq!(
        v["server"]["timeouts"]["client_header"].as_str(),
        Some("1s")
    );
    assert_eq!(
        v["backend"]["app"]["timeouts"]["server"].as_str(),
        Some("1s")
    );
    assert_eq!(v["listener"][0]["bind"].as_str(), Some("127.0.0.1:0"));
}
