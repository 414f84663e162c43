//! Request framing rejections. Each malformed request must get the expected
//! status, the connection must then be closed by tern (EOF after the
//! response), and the upstream must receive no bytes at all.
//!
//! These fail if tern forwards ambiguous framing (request smuggling), is
//! lenient about the head syntax, answers with another status, or keeps the
//! connection open after the error.

mod common;

use common::*;
use std::thread;
use std::time::Duration;

/// Sends `req` to a fresh tern (started from `cfg` pointing at an echo
/// upstream) and checks status, close and that the upstream saw nothing.
fn assert_rejected_with(cfg: impl FnOnce(Cfg) -> Cfg, req: &[u8], status: u16) {
    let up = RecordingUpstream::echo();
    let tern = cfg(Cfg::new(up.addr).workers(1)).start();
    let (resp, closed) = raw_request(tern.addr(), req);
    // Leave tern a moment in case it forwards after answering.
    thread::sleep(Duration::from_millis(100));
    let seen = up.all_bytes();
    assert_eq!(
        status_of(&resp),
        Some(status),
        "request:\n{}\nresponse:\n{}\nupstream saw:\n{}",
        show(req),
        show(&resp),
        show(&seen)
    );
    assert!(
        closed,
        "tern kept the connection open after {}: response:\n{}",
        status,
        show(&resp)
    );
    assert!(
        seen.is_empty(),
        "upstream received bytes for a rejected request:\n{}",
        show(&seen)
    );
    // Exactly one response, nothing after it.
    let head_end = find(&resp, b"\r\n\r\n", 0).expect("response head") + 4;
    let head = parse_head(&resp[..head_end]).unwrap();
    if let Some(cl) = head.content_length() {
        assert_eq!(
            resp.len(),
            head_end + cl,
            "extra bytes after the error response:\n{}",
            show(&resp)
        );
    }
}

fn assert_rejected(req: &[u8], status: u16) {
    assert_rejected_with(|c| c, req, status)
}

macro_rules! reject {
    ($name:ident, $req:expr, $status:expr) => {
        #[test]
        fn $name() {
            assert_rejected($req, $status);
        }
    };
}

// --- Content-Length / Transfer-Encoding -----------------------------------

reject!(
    content_length_with_transfer_encoding,
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    400
);
reject!(
    transfer_encoding_then_content_length,
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    400
);
reject!(
    two_different_content_lengths,
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    400
);
reject!(
    content_length_list_of_different_values,
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
    400
);
reject!(
    content_length_not_a_number,
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    400
);
reject!(
    content_length_negative,
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    400
);
reject!(
    content_length_with_plus_sign,
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
    400
);
reject!(
    content_length_hex,
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello",
    400
);
reject!(
    transfer_encoding_gzip_is_not_implemented,
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    501
);
reject!(
    transfer_encoding_chunked_then_gzip_is_not_implemented,
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    501
);

// --- header syntax ---------------------------------------------------------

reject!(
    obs_fold_with_space,
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n continued\r\n\r\n",
    400
);
reject!(
    obs_fold_with_tab,
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tcontinued\r\n\r\n",
    400
);
reject!(
    whitespace_before_colon_in_host,
    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    400
);
reject!(
    whitespace_before_colon_in_other_header,
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Foo : 1\r\n\r\n",
    400
);
reject!(
    control_char_in_header_value,
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
    400
);
reject!(
    nul_in_header_value,
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    400
);
reject!(
    escape_char_in_header_value,
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x1b[31mb\r\n\r\n",
    400
);
reject!(
    del_in_header_value,
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",
    400
);
reject!(
    control_char_in_header_name,
    b"GET / HTTP/1.1\r\nHost: x\r\nX\x01A: 1\r\n\r\n",
    400
);
reject!(
    nul_in_header_name,
    b"GET / HTTP/1.1\r\nHost: x\r\nX\x00A: 1\r\n\r\n",
    400
);
reject!(
    bare_lf_after_request_line,
    b"GET / HTTP/1.1\nHost: x\r\n\r\n",
    400
);
reject!(
    bare_lf_after_header,
    b"GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n",
    400
);
reject!(
    bare_lf_terminating_head,
    b"GET / HTTP/1.1\r\nHost: x\r\n\n",
    400
);
reject!(bare_lf_everywhere, b"GET / HTTP/1.1\nHost: x\n\n", 400);
reject!(
    bare_cr_between_headers,
    b"GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n",
    400
);
reject!(
    bare_cr_in_header_value,
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    400
);
reject!(
    bare_cr_in_request_line,
    b"GET /\r HTTP/1.1\r\nHost: x\r\n\r\n",
    400
);

// --- Host --------------------------------------------------------------------

reject!(
    http11_without_host,
    b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n",
    400
);
reject!(
    two_host_headers,
    b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
    400
);
reject!(
    two_identical_host_headers,
    b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n",
    400
);

// --- version -----------------------------------------------------------------

reject!(
    version_http2_is_505,
    b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    505
);
reject!(
    version_http12_is_505,
    b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
    505
);
reject!(
    version_http19_is_505,
    b"GET / HTTP/1.9\r\nHost: x\r\n\r\n",
    505
);
reject!(
    version_http3_is_505,
    b"GET / HTTP/3.0\r\nHost: x\r\n\r\n",
    505
);

// --- size limits ---------------------------------------------------------------

fn big_head(extra_header_bytes: usize) -> Vec<u8> {
    let mut r = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    let mut n = 0;
    let mut i = 0;
    while n < extra_header_bytes {
        let line = format!("X-Filler-{}: {}\r\n", i, "a".repeat(1000));
        n += line.len();
        r.extend_from_slice(line.as_bytes());
        i += 1;
    }
    r.extend_from_slice(b"\r\n");
    r
}

#[test]
fn head_over_default_max_head_bytes_is_431() {
    // 70 KB of headers in ~70 fields (under the default 100 fields).
    assert_rejected(&big_head(70 * 1024), 431);
}

#[test]
fn head_over_small_max_head_bytes_is_431() {
    assert_rejected_with(|c| c.limit("max_head_bytes", 1024), &big_head(2000), 431);
}

#[test]
fn head_under_small_max_head_bytes_is_forwarded() {
    // Control for the test above: a 600-byte head passes a 1024 limit.
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).limit("max_head_bytes", 1024).start();
    let mut c = tern.connect();
    let mut req = b"GET /small HTTP/1.1\r\nHost: x\r\n".to_vec();
    req.extend_from_slice(format!("X-Filler: {}\r\n\r\n", "a".repeat(500)).as_bytes());
    let r = c.roundtrip(&req);
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "/small");
}

#[test]
fn request_line_over_default_limit_is_414() {
    let req = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    assert_rejected(req.as_bytes(), 414);
}

#[test]
fn request_line_over_small_limit_is_414() {
    let req = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(200));
    assert_rejected_with(
        |c| c.limit("max_request_line_bytes", 100),
        req.as_bytes(),
        414,
    );
}

fn many_headers(n: usize) -> Vec<u8> {
    let mut r = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..n {
        r.extend_from_slice(format!("X-H{}: {}\r\n", i, i).as_bytes());
    }
    r.extend_from_slice(b"\r\n");
    r
}

#[test]
fn more_than_default_max_headers_is_431() {
    // Host + 120 = 121 fields > 100, but only ~1.5 KB.
    assert_rejected(&many_headers(120), 431);
}

#[test]
fn more_than_small_max_headers_is_431() {
    // Host + 15 = 16 fields > 10.
    assert_rejected_with(|c| c.limit("max_headers", 10), &many_headers(15), 431);
}

#[test]
fn headers_within_small_max_headers_are_forwarded() {
    // Host + 8 = 9 fields <= 10.
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).limit("max_headers", 10).start();
    let mut c = tern.connect();
    let r = c.roundtrip(&many_headers(8));
    assert_eq!(r.status, 200);
}

// --- chunked body errors -------------------------------------------------------
//
// The body is streamed, so the upstream may already have the head. The
// client must get a 400 (if no response started) or a closed connection,
// and the upstream must never see the terminating 0-chunk of the bad body.

fn assert_bad_chunked(body: &[u8]) {
    let up = RecordingUpstream::silent();
    let tern = Cfg::new(up.addr).workers(1).timeout("server", "3s").start();
    let mut req =
        b"POST /chunky HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(body);
    let (resp, closed) = raw_request(tern.addr(), &req);
    thread::sleep(Duration::from_millis(100));
    let seen = up.all_bytes();
    assert!(
        closed,
        "connection not closed after a bad chunked body; response:\n{}",
        show(&resp)
    );
    assert!(
        resp.is_empty() || status_of(&resp) == Some(400),
        "expected 400 or a bare close, got:\n{}",
        show(&resp)
    );
    if let Some(p) = find(&seen, b"\r\n\r\n", 0) {
        let after_head = &seen[p + 4..];
        assert!(
            !contains(after_head, b"0\r\n\r\n"),
            "upstream received a completed chunked body for a malformed one:\n{}",
            show(&seen)
        );
    }
}

#[test]
fn chunk_size_not_hex() {
    assert_bad_chunked(b"zz\r\nhello\r\n0\r\n\r\n");
}

#[test]
fn chunk_size_overflow() {
    assert_bad_chunked(b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n");
}

#[test]
fn chunk_size_overflow_after_valid_chunk() {
    assert_bad_chunked(b"5\r\nhello\r\n10000000000000000\r\nx\r\n0\r\n\r\n");
}

#[test]
fn chunk_data_without_crlf() {
    assert_bad_chunked(b"5\r\nhelloXX0\r\n\r\n");
}

#[test]
fn chunk_data_longer_than_size() {
    assert_bad_chunked(b"3\r\nhello\r\n0\r\n\r\n");
}

#[test]
fn chunk_size_with_bare_lf() {
    assert_bad_chunked(b"5\nhello\r\n0\r\n\r\n");
}

// --- after a rejection the upstream stays untouched and tern keeps serving ----

#[test]
fn tern_keeps_serving_after_rejections() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).workers(1).start();
    for _ in 0..3 {
        let (resp, closed) = raw_request(
            tern.addr(),
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        );
        assert_eq!(status_of(&resp), Some(400), "{}", show(&resp));
        assert!(closed);
    }
    let mut c = tern.connect();
    let r = c.roundtrip(&get("/after"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "/after");
    assert_eq!(up.request_count(), 1);
    assert!(!contains(&up.all_bytes(), b"Content-Length: 2"));
}

#[test]
fn rejection_after_a_good_request_on_the_same_connection() {
    // The parser state is per request: a good request, then a smuggling
    // attempt on the same connection → 400 + close; only the first request
    // reaches the upstream.
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    assert_eq!(c.roundtrip(&get("/good")).body_str(), "/good");
    c.send(b"POST /evil HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG");
    let r = c.read_response_to("POST").expect("error response");
    assert_eq!(r.status, 400, "{}", show(&r.raw));
    assert!(
        c.expect_close(Duration::from_secs(3)).is_ok(),
        "not closed after 400"
    );
    thread::sleep(Duration::from_millis(100));
    let all = up.all_bytes();
    assert!(
        !contains(&all, b"/evil"),
        "smuggled request forwarded: {}",
        show(&all)
    );
    assert_eq!(up.request_count(), 1);
}

// --- max_body_bytes -------------------------------------------------------

fn limited(cfg: Cfg) -> Cfg {
    cfg.limit("max_body_bytes", 1000)
}

#[test]
fn a_content_length_over_max_body_bytes_is_413_before_the_upstream() {
    // The head alone says it: no byte of the body need come.
    assert_rejected_with(
        limited,
        b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
        413,
    );
}

#[test]
fn a_first_chunk_over_max_body_bytes_is_413_before_the_upstream() {
    let mut req =
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n".to_vec();
    req.extend_from_slice(&[b'a'; 1001]);
    assert_rejected_with(limited, &req, 413);
}

#[test]
fn bodies_up_to_max_body_bytes_are_forwarded() {
    let up = RecordingUpstream::echo();
    let tern = limited(Cfg::new(up.addr)).start();
    let mut c = tern.connect();
    let body = vec![b'b'; 1000];
    let r = c.roundtrip(&post("/up", &body));
    assert_eq!((r.status, r.body.len()), (200, 1000));
    let mut chunked =
        b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    chunked.extend_from_slice(b"1f4\r\n");
    chunked.extend_from_slice(&[b'c'; 500]);
    chunked.extend_from_slice(b"\r\n1f4\r\n");
    chunked.extend_from_slice(&[b'c'; 500]);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let r = c.roundtrip(&chunked);
    assert_eq!((r.status, r.body.len()), (200, 1000));
}

#[test]
fn a_chunked_body_growing_past_max_body_bytes_is_413_and_cut_off_upstream() {
    let up = RecordingUpstream::echo();
    let tern = limited(Cfg::new(up.addr).workers(1)).start();
    let mut c = tern.connect();
    c.set_read_timeout(Duration::from_secs(5));
    let chunk = |byte: u8| {
        let mut out = b"190\r\n".to_vec();
        out.extend_from_slice(&[byte; 400]);
        out.extend_from_slice(b"\r\n");
        out
    };
    // The first chunk passes the check made before any upstream is
    // contacted; the third would take the body to 1,200 bytes.
    let mut head = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    head.extend_from_slice(&chunk(b'1'));
    c.send(&head);
    assert!(
        wait_until(Duration::from_secs(5), || contains(
            &up.all_bytes(),
            &[b'1'; 400]
        )),
        "the first chunk never reached the upstream"
    );
    c.send(&chunk(b'2'));
    c.send(&chunk(b'3'));
    let r = c.read_response().expect("an answer");
    assert_eq!(r.status, 413, "{}", r.body_str());
    thread::sleep(Duration::from_millis(100));
    let seen = up.all_bytes();
    assert!(
        !contains(&seen, b"333"),
        "the chunk past the limit reached the upstream:\n{}",
        show(&seen)
    );
    assert!(
        !seen.ends_with(b"0\r\n\r\n"),
        "the cut body was passed off as whole"
    );
}

#[test]
fn a_route_s_max_body_bytes_takes_the_place_of_the_server_s() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&format!(
        "[server]\nworkers = 1\n[server.limits]\nmax_body_bytes = 1000\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\npath_prefix = \"/upload\"\nbackend = \"app\"\nmax_body_bytes = 5000\n\
         [[route]]\npath_prefix = \"/tiny\"\nbackend = \"app\"\nmax_body_bytes = 10\n\
         [[route]]\nbackend = \"app\"\n\
         [backend.app]\nservers = [\"{}\"]\n",
        up.addr
    ));
    // Each request ends its connection: raw_request reads to the end.
    let status = |path: &str, len: usize, chunked: bool| {
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_string()
        } else {
            format!("Content-Length: {len}")
        };
        let mut req =
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{framing}\r\n\r\n")
                .into_bytes();
        if chunked {
            req.extend_from_slice(format!("{len:x}\r\n").as_bytes());
        }
        req.extend_from_slice(&vec![b'u'; len]);
        if chunked {
            req.extend_from_slice(b"\r\n0\r\n\r\n");
        }
        status_of(&raw_request(tern.addr(), &req).0)
    };
    let expected = [
        ("/upload", 3000, 200),
        ("/upload", 5001, 413),
        ("/other", 3000, 413),
        ("/tiny", 11, 413),
        ("/tiny", 10, 200),
    ];
    for chunked in [false, true] {
        for (path, len, want) in expected {
            let got = status(path, len, chunked);
            assert_eq!(got, Some(want), "{len} bytes to {path}, chunked: {chunked}");
        }
    }
}
