//! Responses: Content-Length, chunked and close-delimited bodies; no body
//! for HEAD/204/304; 103 Early Hints relayed, up to 32 interim responses;
//! bad upstream responses → 502 with the upstream connection dropped;
//! truncated bodies never look complete.

mod common;

use common::*;
use std::thread;
use std::time::Duration;

/// Upstream that reads each request and writes `resp(request)` verbatim;
/// closes after writing when `close_after` is true.
fn scripted<F>(close_after: bool, resp: F) -> RecordingUpstream
where
    F: Fn(&SeenRequest) -> Vec<u8> + Send + Sync + 'static,
{
    RecordingUpstream::start(move |c| {
        while let Some(req) = c.read_request() {
            if !c.write(&resp(&req)) || close_after {
                return;
            }
        }
    })
}

#[test]
fn content_length_response_is_relayed() {
    let up = scripted(false, |_| {
        b"HTTP/1.1 200 OK\r\nX-Custom: Some  Value\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world"
            .to_vec()
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "hello world");
    assert_eq!(r.header("x-custom").as_deref(), Some("Some  Value"));
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    // X-Custom stays before Content-Type.
    let names: Vec<String> = r
        .head
        .headers
        .iter()
        .map(|h| h.0.to_ascii_lowercase())
        .collect();
    let a = names.iter().position(|n| n == "x-custom").unwrap();
    let b = names.iter().position(|n| n == "content-type").unwrap();
    assert!(a < b, "response headers reordered: {:?}", names);
}

#[test]
fn status_and_reason_are_relayed() {
    let up = scripted(false, |_| {
        b"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 6\r\n\r\nteapot".to_vec()
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/"));
    assert_eq!(r.status, 418);
    assert_eq!(r.body_str(), "teapot");
}

#[test]
fn chunked_response_is_relayed() {
    let up = scripted(false, |_| {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=a\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n"
            .to_vec()
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "Wikipedia in\r\n\r\nchunks.");
    // Connection still usable.
    let r = c.roundtrip(&get("/again"));
    assert_eq!(r.body_str(), "Wikipedia in\r\n\r\nchunks.");
}

/// A body the upstream ends by closing reaches an HTTP/1.1 client chunked
/// (as nginx sends it), whole, and the client's connection stays open for
/// the next request: the last chunk, not a close, says the body ended.
#[test]
fn a_close_delimited_body_reaches_an_http11_client_chunked_and_the_connection_stays() {
    let up = scripted(true, |_| {
        let mut v = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n".to_vec();
        v.extend_from_slice(&pattern(100_000, 3));
        v
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    for round in 0..2 {
        c.send(&get("/"));
        let r = c.read_response().expect("response");
        assert_eq!(r.status, 200);
        assert!(
            r.chunked && !r.close_delimited,
            "round {round}: {}",
            show(&r.raw[..200])
        );
        assert!(
            r.body == pattern(100_000, 3),
            "round {round}: body differs ({} bytes)",
            r.body.len()
        );
    }
}

/// An HTTP/1.0 client, which can't take chunks, still gets such a body
/// delimited by the close.
#[test]
fn a_close_delimited_body_reaches_an_http10_client_until_the_close() {
    let up = scripted(true, |_| b"HTTP/1.1 200 OK\r\n\r\nuntil close".to_vec());
    let tern = Cfg::new(up.addr).start();
    let (raw, closed) = raw_request(tern.addr(), b"GET / HTTP/1.0\r\n\r\n");
    assert!(closed, "{}", show(&raw));
    assert!(raw.ends_with(b"\r\n\r\nuntil close"), "{}", show(&raw));
    assert!(!contains(&raw, b"chunked"), "{}", show(&raw));
}

/// A coding other than chunked travels only in Transfer-Encoding, which an
/// HTTP/1.0 client may not get: relayed without it, the gzip bytes would
/// reach the client as the body itself. An HTTP/1.1 client gets it whole.
#[test]
fn a_transfer_coding_an_http10_client_cannot_be_told_of_is_a_502() {
    let up = scripted(false, |_| {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\n\x1f\x8b\x08\x00\r\n0\r\n\r\n".to_vec()
    });
    let tern = Cfg::new(up.addr).start();
    let (raw, _) = raw_request(tern.addr(), b"GET / HTTP/1.0\r\n\r\n");
    assert!(raw.starts_with(b"HTTP/1.1 502 "), "{}", show(&raw));
    let r = tern.connect().roundtrip(&get("/"));
    assert_eq!(r.status, 200);
    assert!(
        r.header("transfer-encoding")
            .is_some_and(|te| te.starts_with("gzip")),
        "{}",
        show(&r.raw)
    );
}

/// Upstream for one connection: answers its first request with a head
/// and the start of a close-delimited body, then resets the connection
/// (SO_LINGER 0; the recording upstream's close would send a FIN first).
fn resets_mid_body() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut c = Conn::new(s.try_clone().expect("clone"), None);
        if c.read_until(b"\r\n\r\n").is_ok() {
            let _ = std::io::Write::write_all(&mut s, b"HTTP/1.1 200 OK\r\n\r\npartial body");
            thread::sleep(Duration::from_millis(100));
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
    });
    addr
}

/// A close-delimited body the upstream cuts (a reset, or silence past the
/// server timeout) ends without its last chunk: the client sees a cut
/// response, never a whole-looking one (README: "never a short body passed
/// off as complete").
#[test]
fn a_close_delimited_body_cut_short_ends_without_its_last_chunk() {
    let silent = RecordingUpstream::start(|c| {
        if c.read_request().is_some() {
            c.write(b"HTTP/1.1 200 OK\r\n\r\npartial body");
            thread::sleep(Duration::from_secs(3));
        }
    });
    for upstream in [resets_mid_body(), silent.addr] {
        let tern = Cfg::new(upstream)
            .timeout("server", "1s")
            .timeout("client_idle", "30s")
            .start();
        let mut c = tern.connect();
        c.set_read_timeout(Duration::from_secs(5));
        c.send(&get("/"));
        match c.read_response() {
            Ok(r) => panic!("a whole-looking response: {}", show(&r.raw)),
            Err(RespErr::Closed { partial }) | Err(RespErr::Io { partial, .. }) => {
                assert!(contains(&partial, b"partial body"), "{}", show(&partial));
                assert!(!contains(&partial, b"0\r\n\r\n"), "{}", show(&partial));
            }
            Err(e) => panic!("client connection not closed: {e:?}"),
        }
    }
}

fn head_204_304_upstream() -> RecordingUpstream {
    // Note: the upstream keeps the connection open; a proxy that waits for
    // a body here hangs until the timeout.
    scripted(false, |req| match req.head.target() {
        "/head" => b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec(),
        "/204" => b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n".to_vec(),
        "/304" => {
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n".to_vec()
        }
        p => format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
            p.len(),
            p
        )
        .into_bytes(),
    })
}

/// Fails if tern waits for (or forwards) a body after a HEAD response: the
/// next response would then be wrong or time out.
#[test]
fn head_response_has_no_body_and_connection_stays_usable() {
    let up = head_204_304_upstream();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(b"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.read_response_to("HEAD").expect("HEAD response");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length").as_deref(), Some("10"));
    c.send(&get("/next"));
    let r = c.read_response().expect("response after HEAD");
    assert_eq!(r.status, 200, "{}", show(&r.raw));
    assert_eq!(r.body_str(), "/next");
}

#[test]
fn no_body_for_204() {
    let up = head_204_304_upstream();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(&get("/204"));
    let r = c.read_response().expect("204");
    assert_eq!(r.status, 204);
    c.send(&get("/next"));
    let r = c.read_response().expect("response after 204");
    assert_eq!(r.body_str(), "/next", "{}", show(&r.raw));
}

#[test]
fn no_body_for_304() {
    let up = head_204_304_upstream();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(b"GET /304 HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"x\"\r\n\r\n");
    let r = c.read_response().expect("304");
    assert_eq!(r.status, 304);
    c.send(&get("/next"));
    let r = c.read_response().expect("response after 304");
    assert_eq!(r.body_str(), "/next", "{}", show(&r.raw));
}

#[test]
fn early_hints_relayed_before_final_response() {
    let up = RecordingUpstream::start(|c| {
        while c.read_request().is_some() {
            c.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n");
            thread::sleep(Duration::from_millis(200));
            if !c.respond(200, &[], b"final") {
                return;
            }
        }
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(&get("/hints"));
    let first = c.read_response().expect("first response");
    assert_eq!(first.status, 103, "{}", show(&first.raw));
    assert_eq!(
        first.header("link").as_deref(),
        Some("</style.css>; rel=preload")
    );
    let fin = c.read_response().expect("final response");
    assert_eq!(fin.status, 200);
    assert_eq!(fin.body_str(), "final");
}

#[test]
fn interim_responses_past_the_32_allowed_end_in_a_502() {
    // `/N`: N `102 Processing` heads, then the final answer.
    let up = scripted(false, |req| {
        let count: usize = req.head.target()[1..].parse().unwrap_or(0);
        let mut out = b"HTTP/1.1 102 Processing\r\n\r\n".repeat(count);
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal");
        out
    });
    let tern = Cfg::new(up.addr).start();
    for (count, status) in [(32, 200), (33, 502)] {
        let mut c = tern.connect();
        c.send(&get(&format!("/{count}")));
        for nth in 0..32 {
            let interim = c.read_response().expect("interim response");
            assert_eq!(interim.status, 102, "/{count}, interim {nth}");
        }
        let last = c.read_response().expect("final response");
        assert_eq!(last.status, status, "/{count}: {}", show(&last.raw));
    }
}

#[test]
fn http10_client_gets_no_chunked_encoding() {
    // RFC 9112 §7: chunked must not be sent to an HTTP/1.0 recipient.
    let up = scripted(false, |_| {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".to_vec()
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n");
    let r = c.read_response().expect("response");
    assert!(
        !r.chunked,
        "chunked sent to an HTTP/1.0 client: {}",
        show(&r.raw)
    );
    assert_eq!(r.body_str(), "hello");
}

#[test]
fn large_response_to_slow_client() {
    const LEN: usize = 8 * 1024 * 1024;
    let up = scripted(false, |_| {
        let mut v = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", LEN).into_bytes();
        v.extend_from_slice(&pattern(LEN, 5));
        v
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.conn_slow();
    c.send(&get("/big"));
    let r = c.read_response().expect("big response");
    assert_eq!(r.body.len(), LEN);
    assert!(r.body == pattern(LEN, 5), "response body differs");
}

trait Slow {
    fn conn_slow(&mut self);
}
impl Slow for Conn {
    fn conn_slow(&mut self) {
        self.read_size = 32 * 1024;
        self.set_read_timeout(Duration::from_secs(30));
    }
}

// --- bad upstream responses ---------------------------------------------------

/// The upstream sends `bad` as the response; the client must get a 502 and
/// tern must drop the upstream connection.
fn assert_bad_upstream_response(bad: &'static [u8]) {
    let up = RecordingUpstream::start(move |c| {
        if c.read_request().is_none() {
            return;
        }
        c.write(bad);
        // Wait for tern to drop us (read_to_eof returns on EOF or the
        // 15 s socket timeout).
        c.conn.set_read_timeout(Duration::from_secs(5));
        let _ = c.conn.read_to_eof();
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(&get("/bad"));
    let r = c.read_response();
    let r = match r {
        Ok(r) => r,
        Err(e) => panic!(
            "no response for bad upstream response {}: {:?}",
            show(bad),
            e
        ),
    };
    assert_eq!(
        r.status,
        502,
        "for upstream response:\n{}\ngot:\n{}",
        show(bad),
        show(&r.raw)
    );
    assert!(
        wait_until(Duration::from_secs(3), || up.conn_peer_eof(0)),
        "tern kept the upstream connection after a bad response"
    );
}

#[test]
fn upstream_content_length_and_transfer_encoding_is_502() {
    assert_bad_upstream_response(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
}

#[test]
fn upstream_two_content_lengths_is_502() {
    assert_bad_upstream_response(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    );
}

#[test]
fn upstream_invalid_content_length_is_502() {
    assert_bad_upstream_response(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello");
}

#[test]
fn upstream_obs_fold_is_502() {
    assert_bad_upstream_response(
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 5\r\n\r\nhello",
    );
}

#[test]
fn upstream_garbage_is_502() {
    assert_bad_upstream_response(b"SSH-2.0-OpenSSH_9.6\r\nthis is not http\r\n\r\n");
}

#[test]
fn upstream_binary_garbage_is_502() {
    assert_bad_upstream_response(b"\x00\x01\x02\x03\xff\xfe\r\n\r\n");
}

// --- truncated upstream bodies --------------------------------------------------

/// Fails if tern pads the body, or leaves the client connection open after
/// the upstream died mid-body (the client would wait forever, or worse,
/// take the next response as the rest of this body).
#[test]
fn upstream_closing_mid_content_length_body_closes_client() {
    let up = RecordingUpstream::start(|c| {
        if c.read_request().is_some() {
            c.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
            c.write(&[b'x'; 50]);
            thread::sleep(Duration::from_millis(100));
        }
    });
    // A long client_idle, so that a connection kept open after a
    // truncated body isn't closed by the idle timeout instead.
    let tern = Cfg::new(up.addr).timeout("client_idle", "30s").start();
    let mut c = tern.connect();
    c.set_read_timeout(Duration::from_secs(3));
    c.send(&get("/half"));
    match c.read_response() {
        Ok(r) => assert_eq!(
            r.status,
            502,
            "a complete-looking response for a truncated body: {}",
            show(&r.raw)
        ),
        // Expected: head + at most the 50 body bytes, then EOF (a reset is
        // also a close).
        Err(RespErr::Closed { partial }) | Err(RespErr::Io { partial, .. }) => {
            assert!(
                partial.is_empty() || status_of(&partial) == Some(200),
                "{}",
                show(&partial)
            );
        }
        Err(e) => panic!("client connection not closed: {:?}", e),
    }
}

#[test]
fn upstream_closing_mid_chunked_body_closes_client() {
    let up = RecordingUpstream::start(|c| {
        if c.read_request().is_some() {
            c.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
            thread::sleep(Duration::from_millis(100));
        }
    });
    // A long client_idle, so that a connection kept open after a
    // truncated body isn't closed by the idle timeout instead.
    let tern = Cfg::new(up.addr).timeout("client_idle", "30s").start();
    let mut c = tern.connect();
    c.set_read_timeout(Duration::from_secs(3));
    c.send(&get("/halfchunk"));
    match c.read_response() {
        Ok(r) => assert_eq!(
            r.status,
            502,
            "a complete-looking response for a truncated chunked body: {}",
            show(&r.raw)
        ),
        Err(RespErr::Closed { partial }) | Err(RespErr::Io { partial, .. }) => {
            assert!(
                !contains(&partial, b"0\r\n\r\n"),
                "terminating chunk sent for a truncated body: {}",
                show(&partial)
            );
        }
        Err(e) => panic!("client connection not closed: {:?}", e),
    }
}

/// Fails if tern buffers the whole response before relaying it: the
/// upstream only sends the second half after the client got the first.
#[test]
fn response_body_is_streamed_not_buffered() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    for chunked in [false, true] {
        let go = Arc::new(AtomicBool::new(false));
        let go2 = go.clone();
        let up = RecordingUpstream::start(move |c| {
            if c.read_request().is_none() {
                return;
            }
            if chunked {
                c.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
            } else {
                c.write(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nfirst");
            }
            wait_until(Duration::from_secs(5), || go2.load(Ordering::SeqCst));
            if chunked {
                c.write(b"7\r\n second\r\n0\r\n\r\n");
            } else {
                c.write(b" second");
            }
        });
        let tern = Cfg::new(up.addr).start();
        let mut c = tern.connect();
        c.send(&get("/"));
        c.set_read_timeout(Duration::from_secs(3));
        let got_first = (|| {
            for _ in 0..100 {
                if contains(&c.buf, b"first") {
                    return true;
                }
                if !matches!(c.fill(), Ok(n) if n > 0) {
                    return false;
                }
            }
            false
        })();
        go.store(true, Ordering::SeqCst);
        assert!(
            got_first,
            "(chunked: {}) first half not relayed before the rest arrived: {}",
            chunked,
            show(&c.buf)
        );
        c.set_read_timeout(Duration::from_secs(5));
        let r = c.read_response().expect("response");
        assert_eq!(r.body_str(), "first second");
    }
}

/// Responses around the size of tern's buffers, each head and body written
/// by the upstream at once: tern gathers such a response whole before
/// writing it (copied behind its head, or left where it was read and
/// written in pieces), on a kept-alive connection and as a connection's
/// last response. Each arrives intact, in order, with nothing after it.
#[test]
fn responses_near_a_buffer_in_size_arrive_intact_kept_alive_and_last() {
    const SIZES: [usize; 8] = [100, 12_000, 16_300, 16_384, 16_400, 20_000, 32_700, 40_000];
    let up = scripted(false, |req| {
        let size: usize = req.head.target()[1..].parse().unwrap_or(0);
        let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").into_bytes();
        resp.extend_from_slice(&pattern(size, size as u64));
        resp
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    for size in SIZES {
        let r = c.roundtrip(&get(&format!("/{size}")));
        assert_eq!(r.status, 200);
        assert!(r.body == pattern(size, size as u64), "{size} B kept alive");
    }
    for size in SIZES {
        let mut c = tern.connect();
        let request = format!("GET /{size} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let r = c.roundtrip(request.as_bytes());
        assert!(r.body == pattern(size, size as u64), "{size} B, the last");
        let after = c.expect_close(Duration::from_secs(5));
        assert_eq!(after, Ok(Vec::new()), "{size} B: the end, then nothing");
    }
}
