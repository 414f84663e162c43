//! Route `compress` on proxied responses: the body is decoded here and
//! compared byte for byte with what the upstream sent; each case the issue
//! lists as "not compressed" has its own test; an event stream arrives
//! event by event; the keys are checked by `--check` and follow a reload.

mod common;

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use common::codings::{compressible_text as text, gunzip, unbrotli};
use common::traffic::wait_lines;
use common::*;

/// tern with one compressing route to `upstream`; `compress`: the value.
fn config(upstream: std::net::SocketAddr, compress: &str) -> String {
    let mut toml = Cfg::empty().render();
    toml.push_str(&format!(
        "\n[[route]]\nbackend = \"app\"\ncompress = {compress}\n\
         \n[backend.app]\nservers = [\"{upstream}\"]\n"
    ));
    toml
}

/// An upstream answering every request with this head (its fields, the
/// framing added here) and body; `chunked`: sent as chunks of 1000 bytes.
fn answering(status: u16, fields: &'static str, body: Vec<u8>, chunked: bool) -> RecordingUpstream {
    RecordingUpstream::start(move |c| {
        while let Some(req) = c.read_request() {
            let mut out = format!("HTTP/1.1 {status} {}\r\n{fields}", reason(status)).into_bytes();
            let bodiless = req.head.method() == "HEAD" || status == 204 || status == 304;
            if chunked {
                out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for piece in body.chunks(1000) {
                    out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            } else {
                if status != 204 {
                    out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                if !bodiless {
                    out.extend_from_slice(&body);
                }
            }
            if !c.write(&out) {
                return;
            }
        }
    })
}

fn request(method: &str, extra: &str) -> Vec<u8> {
    format!("{method} /page HTTP/1.1\r\nHost: test.local\r\n{extra}\r\n").into_bytes()
}

const HTML: &str = "Content-Type: text/html; charset=utf-8\r\nETag: \"v1\"\r\n";

/// The head of a response tern left as it was: the upstream's length,
/// no coding, the body as sent.
fn assert_untouched(r: &Response, body: &[u8]) {
    assert!(!r.has("content-encoding"), "{}", show(&r.raw));
    assert_eq!(r.body, body, "{}", show(&r.raw));
}

#[test]
fn gzip_is_decoded_to_the_upstreams_bytes_and_the_head_says_so() {
    let body = text(200_000);
    let up = answering(200, HTML, body.clone(), false);
    let tern = Tern::start(&config(up.addr, "true"));
    let mut c = tern.connect();
    let r = c.roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert!(
        r.chunked,
        "compressed bodies go chunked to HTTP/1.1 clients"
    );
    assert!(!r.has("content-length"));
    assert_eq!(r.header("vary").as_deref(), Some("Accept-Encoding"));
    assert_eq!(r.header("etag").as_deref(), Some("W/\"v1\""));
    assert!(r.body.len() < body.len() / 2, "{} bytes", r.body.len());
    assert_eq!(gunzip(&r.body), body);
    // The connection goes on, and so does compression.
    let again = c.roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_eq!(gunzip(&again.body), body);
}

/// A range of the compressed body can't be had (a Range request is never
/// compressed), so a compressed response doesn't offer one: a client
/// resuming with `bytes=N-` would glue plain bytes to a gzip prefix. The
/// same response uncompressed still does.
#[test]
fn a_compressed_response_offers_no_ranges() {
    let body = text(5_000);
    let fields = "Content-Type: text/html\r\nETag: \"v1\"\r\nAccept-Ranges: bytes\r\n";
    let up = answering(200, fields, body.clone(), false);
    let tern = Tern::start(&config(up.addr, "true"));
    let mut c = tern.connect();
    let r = c.roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert!(!r.has("accept-ranges"), "{}", show(&r.raw[..300]));
    let r = c.roundtrip(&request("GET", ""));
    assert_eq!(r.header("accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(r.body, body);
}

#[test]
fn brotli_when_the_client_prefers_it_and_q_values_decide() {
    let body = text(50_000);
    let up = answering(200, HTML, body.clone(), false);
    let tern = Tern::start(&config(up.addr, "true"));
    let mut c = tern.connect();
    let r = c.roundtrip(&request("GET", "Accept-Encoding: gzip, deflate, br\r\n"));
    assert_eq!(r.header("content-encoding").as_deref(), Some("br"));
    assert_eq!(unbrotli(&r.body), body);
    let r = c.roundtrip(&request("GET", "Accept-Encoding: br;q=0.4, gzip;q=0.8\r\n"));
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(gunzip(&r.body), body);
    let r = c.roundtrip(&request("GET", "Accept-Encoding: br;q=0, *\r\n"));
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(gunzip(&r.body), body);
}

#[test]
fn the_routes_header_edits_still_apply_to_a_compressed_response() {
    let body = text(5_000);
    let up = answering(200, HTML, body.clone(), false);
    let mut toml = config(up.addr, "true");
    toml = toml.replace(
        "compress = true\n",
        "compress = true\nresponse_headers = { remove = [\"ETag\"], set = { X-Edited = \"1\" } }\n",
    );
    let tern = Tern::start(&toml);
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert!(!r.has("etag"), "{}", show(&r.raw[..300]));
    assert_eq!(r.header("x-edited").as_deref(), Some("1"));
    assert_eq!(gunzip(&r.body), body);
}

#[test]
fn q_zero_refuses_and_the_response_still_varies() {
    let body = text(5_000);
    let up = answering(200, HTML, body.clone(), false);
    let tern = Tern::start(&config(up.addr, "{ algorithms = [\"gzip\"] }"));
    let mut c = tern.connect();
    let r = c.roundtrip(&request("GET", "Accept-Encoding: gzip;q=0, br\r\n"));
    assert_untouched(&r, &body);
    assert_eq!(r.header("content-length"), Some(body.len().to_string()));
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));
    assert_eq!(r.header("vary").as_deref(), Some("Accept-Encoding"));
}

#[test]
fn chunked_and_close_delimited_upstream_bodies_are_compressed() {
    let body = text(120_000);
    let chunked = answering(200, HTML, body.clone(), true);
    let tern = Tern::start(&config(chunked.addr, "true"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(gunzip(&r.body), body);

    let sent = body.clone();
    let closing = RecordingUpstream::start(move |c| {
        if c.read_request().is_some() {
            let mut out =
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                    .to_vec();
            out.extend_from_slice(&sent);
            c.write(&out);
        }
    });
    let tern = Tern::start(&config(closing.addr, "true"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: br\r\n"));
    assert_eq!(r.header("content-encoding").as_deref(), Some("br"));
    assert!(r.chunked);
    assert_eq!(unbrotli(&r.body), body);
}

/// An HTTP/1.0 client has no chunks: a compressed body, its length unknown
/// up front, would end only with the connection, and one cut short would
/// look whole. It gets the body as it is, by its length (nginx's
/// `gzip_http_version 1.1`), and keeps its connection.
#[test]
fn an_http10_client_gets_the_body_uncompressed_by_its_length() {
    let body = text(30_000);
    let up = answering(200, HTML, body.clone(), false);
    let tern = Tern::start(&config(up.addr, "true"));
    let mut c = tern.connect();
    c.send(b"GET /page HTTP/1.0\r\nHost: test.local\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\n\r\n");
    let r = c.read_response().expect("response");
    assert_eq!(
        r.header("content-encoding"),
        None,
        "{}",
        show(&r.raw[..300])
    );
    assert_eq!(r.header("content-length"), Some(body.len().to_string()));
    assert!(r.head.has_token("connection", "keep-alive"));
    assert_eq!(r.body, body);
}

// ----- not compressed -----

#[test]
fn not_compressed_when_already_encoded() {
    let body = gzip_of(&text(5_000));
    let up = answering(
        200,
        "Content-Type: text/html\r\nContent-Encoding: gzip\r\n",
        body.clone(),
        false,
    );
    let tern = Tern::start(&config(up.addr, "true"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: br, gzip\r\n"));
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(r.header("content-length"), Some(body.len().to_string()));
    assert_eq!(r.body, body);
}

fn gzip_of(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

#[test]
fn not_compressed_with_cache_control_no_transform() {
    let body = text(5_000);
    let up = answering(
        200,
        "Content-Type: text/html\r\nCache-Control: public, no-transform\r\n",
        body.clone(),
        false,
    );
    let tern = Tern::start(&config(up.addr, "true"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_untouched(&r, &body);
    assert!(!r.has("vary"));
}

#[test]
fn not_compressed_for_head() {
    let body = text(5_000);
    let up = answering(200, HTML, body.clone(), false);
    let tern = Tern::start(&config(up.addr, "true"));
    let mut c = tern.connect();
    c.send(&request("HEAD", "Accept-Encoding: gzip\r\n"));
    let r = c.read_response_to("HEAD").expect("response");
    assert!(!r.has("content-encoding"), "{}", show(&r.raw));
    assert_eq!(r.header("content-length"), Some(body.len().to_string()));
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));
}

#[test]
fn not_compressed_for_204() {
    let up = answering(204, HTML, Vec::new(), false);
    let tern = Tern::start(&config(up.addr, "{ min_length = 0 }"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_eq!(r.status, 204);
    assert_untouched(&r, b"");
    assert!(!r.chunked && !r.has("vary"), "{}", show(&r.raw));
}

#[test]
fn not_compressed_for_304() {
    let up = answering(304, HTML, Vec::new(), false);
    let tern = Tern::start(&config(up.addr, "{ min_length = 0 }"));
    let r = tern.connect().roundtrip(&request(
        "GET",
        "Accept-Encoding: gzip\r\nIf-None-Match: \"v1\"\r\n",
    ));
    assert_eq!(r.status, 304);
    assert_untouched(&r, b"");
    assert_eq!(r.header("etag").as_deref(), Some("\"v1\""));
}

#[test]
fn not_compressed_for_1xx_but_the_final_response_is() {
    let body = text(5_000);
    let sent = body.clone();
    let up = RecordingUpstream::start(move |c| {
        if c.read_request().is_some() {
            let mut out = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nContent-Type: text/html\r\n\r\n".to_vec();
            out.extend_from_slice(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
                    sent.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(&sent);
            c.write(&out);
        }
    });
    let tern = Tern::start(&config(up.addr, "true"));
    let mut c = tern.connect();
    c.send(&request("GET", "Accept-Encoding: gzip\r\n"));
    let (interim, last) = c.read_final_response("GET").expect("responses");
    assert_eq!(interim.len(), 1);
    assert!(
        !interim[0].has("content-encoding") && !interim[0].has("vary"),
        "{}",
        show(&interim[0].raw)
    );
    assert_eq!(last.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(gunzip(&last.body), body);
}

#[test]
fn not_compressed_for_206() {
    let body = text(5_000);
    let up = answering(
        206,
        "Content-Type: text/html\r\nContent-Range: bytes 0-4999/9000\r\n",
        body.clone(),
        false,
    );
    let tern = Tern::start(&config(up.addr, "true"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_eq!(r.status, 206);
    assert_untouched(&r, &body);
}

#[test]
fn not_compressed_for_range_requests() {
    // An upstream that ignores Range and sends the whole body: still not
    // compressed, as the client asked for bytes of the identity body.
    let body = text(5_000);
    let up = answering(200, HTML, body.clone(), false);
    let tern = Tern::start(&config(up.addr, "true"));
    let r = tern.connect().roundtrip(&request(
        "GET",
        "Accept-Encoding: gzip\r\nRange: bytes=0-99\r\n",
    ));
    assert_untouched(&r, &body);
}

#[test]
fn not_compressed_under_min_length_when_the_length_is_known() {
    let body = text(255);
    let up = answering(200, HTML, body.clone(), false);
    let tern = Tern::start(&config(up.addr, "true"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_untouched(&r, &body);
    assert!(!r.has("vary"));
    // The same short body in chunks: its length is unknown, so compressed.
    let chunked = answering(200, HTML, body.clone(), true);
    let tern = Tern::start(&config(chunked.addr, "true"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(gunzip(&r.body), body);
}

#[test]
fn not_compressed_for_types_not_listed() {
    let body = text(5_000);
    let png = answering(200, "Content-Type: image/png\r\n", body.clone(), false);
    let tern = Tern::start(&config(png.addr, "true"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_untouched(&r, &body);
    let untyped = answering(200, "", body.clone(), false);
    let tern = Tern::start(&config(untyped.addr, "true"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_untouched(&r, &body);
    // A route's own list replaces the defaults.
    let json = answering(
        200,
        "Content-Type: application/json\r\n",
        body.clone(),
        false,
    );
    let tern = Tern::start(&config(json.addr, "{ types = [\"text/html\"] }"));
    let r = tern
        .connect()
        .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"));
    assert_untouched(&r, &body);
}

#[test]
fn not_compressed_for_upgrades() {
    // The upstream declines the upgrade with an ordinary page: the
    // request was an upgrade, so its answer goes out as it is.
    let body = text(5_000);
    let up = answering(200, HTML, body.clone(), false);
    let tern = Tern::start(&config(up.addr, "true"));
    let r = tern.connect().roundtrip(&request(
        "GET",
        "Accept-Encoding: gzip\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n",
    ));
    assert_untouched(&r, &body);
}

// ----- streaming -----

/// Each event reaches the client, decodable, before the upstream sends the
/// next: tern flushes the encoder whenever it waits for the upstream.
#[test]
fn server_sent_events_arrive_one_by_one_compressed() {
    for (coding, chunked) in [("gzip", true), ("br", true), ("gzip", false)] {
        let (next_tx, next_rx) = mpsc::channel::<usize>();
        let next_rx = std::sync::Mutex::new(next_rx);
        let up = RecordingUpstream::start(move |c| {
            if c.read_request().is_none() {
                return;
            }
            let head = if chunked {
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            };
            c.write(head.as_bytes());
            let rx = next_rx.lock().expect("lock");
            while let Ok(n) = rx.recv_timeout(Duration::from_secs(10)) {
                let event = format!("data: event number {n}\n\n");
                let framed = if chunked {
                    format!("{:x}\r\n{event}\r\n", event.len())
                } else {
                    event
                };
                if !c.write(framed.as_bytes()) {
                    return;
                }
            }
        });
        let tern = Tern::start(&config(up.addr, "true"));
        let mut c = tern.connect();
        c.set_read_timeout(Duration::from_secs(5));
        c.send(&request("GET", &format!("Accept-Encoding: {coding}\r\n")));
        let head = parse_head(&c.read_head_raw().expect("head")).expect("parsed");
        assert_eq!(head.header("content-encoding").as_deref(), Some(coding));
        assert!(
            head.is_chunked(),
            "compressed bodies go chunked to HTTP/1.1 clients"
        );
        let mut decoded = Decoding::new(coding, head.is_chunked());
        for n in 0..5 {
            next_tx.send(n).expect("upstream waits");
            let want = format!("data: event number {n}\n\n");
            let got = decoded.until(&mut c, want.as_bytes());
            assert!(
                got,
                "{coding}: event {n} did not arrive before the next was sent"
            );
        }
    }
}

/// A compressed stream decoded as its bytes arrive (chunk payloads, or
/// the raw bytes of a close-delimited body).
struct Decoding {
    gzip: Option<flate2::write::GzDecoder<Vec<u8>>>,
    br: Option<brotli::DecompressorWriter<Vec<u8>>>,
    chunked: bool,
    seen: usize,
}

impl Decoding {
    fn new(coding: &str, chunked: bool) -> Decoding {
        Decoding {
            gzip: (coding == "gzip").then(|| flate2::write::GzDecoder::new(Vec::new())),
            br: (coding == "br").then(|| brotli::DecompressorWriter::new(Vec::new(), 4096)),
            chunked,
            seen: 0,
        }
    }

    /// Reads until the decoded text holds `want`; false if it never does.
    fn until(&mut self, c: &mut Conn, want: &[u8]) -> bool {
        for _ in 0..100 {
            let decoded = self.decoded();
            if contains(&decoded[self.seen..], want) {
                self.seen = decoded.len();
                return true;
            }
            let raw = self.next_payload(c);
            if raw.is_empty() {
                return false;
            }
            if let Some(gz) = &mut self.gzip {
                gz.write_all(&raw).expect("gzip");
                gz.flush().expect("gzip");
            }
            if let Some(br) = &mut self.br {
                br.write_all(&raw).expect("br");
                br.flush().expect("br");
            }
        }
        false
    }

    fn decoded(&mut self) -> Vec<u8> {
        match (&mut self.gzip, &mut self.br) {
            (Some(gz), _) => gz.get_ref().clone(),
            (_, Some(br)) => br.get_ref().clone(),
            _ => Vec::new(),
        }
    }

    /// The next bytes of the compressed body: one chunk's payload, or what
    /// one read brought on a close-delimited body.
    fn next_payload(&mut self, c: &mut Conn) -> Vec<u8> {
        if self.chunked {
            let Ok(line) = c.read_until(b"\r\n") else {
                return Vec::new();
            };
            let size = std::str::from_utf8(&line[..line.len() - 2])
                .ok()
                .and_then(|hex| usize::from_str_radix(hex, 16).ok())
                .unwrap_or(0);
            let data = c.read_exact_n(size + 2).unwrap_or_default();
            return data[..data.len().saturating_sub(2)].to_vec();
        }
        if c.buf.is_empty() && c.fill().unwrap_or(0) == 0 {
            return Vec::new();
        }
        let n = c.buf.len();
        c.take(n)
    }
}

// ----- configuration -----

#[test]
fn compress_keys_are_checked_and_named() {
    let up = dead_addr();
    for (value, mentions) in [
        (
            "{ algorithms = [\"zstd\"] }",
            "route[0].compress.algorithms",
        ),
        ("{ algorithms = [] }", "route[0].compress.algorithms"),
        ("{ level = 0 }", "route[0].compress.level"),
        ("{ level = 10 }", "route[0].compress.level"),
        ("{ types = [\"html\"] }", "route[0].compress.types"),
        ("{ min_lenght = 10 }", "min_lenght"),
        ("{ min_length = -1 }", "whole number"),
        ("\"yes\"", "route[0].compress"),
    ] {
        let file = TempFile::new("compress.toml", &config(up, value));
        let out = run_tern(&["--check", "--config", &file.path_str()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{value} accepted: {err}");
        assert!(err.contains(mentions), "{value}: {err}");
    }
    let mut toml = Cfg::empty().render();
    toml.push_str("\n[[route]]\nrespond = { status = 200, body = \"hi\" }\ncompress = true\n");
    let file = TempFile::new("compress-respond.toml", &toml);
    let out = run_tern(&["--check", "--config", &file.path_str()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("route[0].compress") && err.contains("`backend` or `static`"),
        "{err}"
    );
    let fine = config(up, "{ algorithms = [\"gzip\"], types = [\"text/*\", \"application/json\"], min_length = 0, level = 9 }");
    let file = TempFile::new("compress-ok.toml", &fine);
    let out = run_tern(&["--check", "--config", &file.path_str()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn compression_follows_a_reload() {
    let body = text(5_000);
    let up = answering(200, HTML, body.clone(), false);
    let tern = Tern::start(&config(up.addr, "false"));
    let ask = || {
        tern.connect()
            .roundtrip(&request("GET", "Accept-Encoding: gzip\r\n"))
    };
    assert_untouched(&ask(), &body);
    std::fs::write(tern.config_path(), config(up.addr, "true")).expect("rewrite config");
    tern.signal("HUP");
    assert!(
        wait_lines(&tern, "reloaded:", 1, Duration::from_secs(10)),
        "{:?}",
        tern.stderr()
    );
    let r = ask();
    assert_eq!(r.header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(gunzip(&r.body), body);
}
