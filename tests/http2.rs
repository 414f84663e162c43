//! HTTP/2 to clients: negotiation, the same semantics as HTTP/1.1, and the
//! RFC 9113 cases, with independent clients — curl (`--http2`,
//! `--http2-prior-knowledge`), nghttp, and frame-level cases written with
//! the Python `h2` package (tests/http2_frames.py; .ci/run installs it).
//!
//! The frame-level cases are grouped by RFC 9113 section, each asserting
//! the exact error code tern (through hyperium's `h2`) answers with.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::tls_client::*;
use common::*;

/// A plain listener taking h2c with prior knowledge (`http2 = true`).
fn h2c_config(upstream: SocketAddr, extra_listener: &str) -> String {
    format!(
        "[server]\nworkers = 1\nshutdown_grace = \"5s\"\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         http2 = true\n{extra_listener}\n\
         [[route]]\npath_prefix = \"/local\"\nrespond = {{ status = 200, body = \"local answer\" }}\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\nservers = [\"{upstream}\"]\n"
    )
}

fn tls_config(upstream: SocketAddr, cert: &TestCert, http2: &str) -> String {
    format!(
        "[server]\nworkers = 1\n[[listener]]\nbind = \"127.0.0.1:0\"\n{http2}\n\
         tls = {{ certificates = [{{ cert = \"{}\", key = \"{}\" }}] }}\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\nservers = [\"{upstream}\"]\n",
        cert.cert_file.path_str(),
        cert.key_file.path_str()
    )
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/http2_frames.py")
}

/// Runs one frame-level case; returns its one-line verdict.
fn frames(case: &str, tern: &Tern) -> String {
    let out = Command::new("python3")
        .arg(script())
        .arg(case)
        .arg(tern.addr().port().to_string())
        .output()
        .expect("python3 runs (with the h2 package: pip install h2)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "case {case} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A frame-level case run as a conversation: it prints a line as each
/// thing happens and waits for words on its stdin ("end" ends it). Ended
/// (told "end", then waited for) when dropped.
struct Talk {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
    stdin: std::process::ChildStdin,
}

impl Talk {
    fn start(case: &str, tern: &Tern) -> Talk {
        let mut child = Command::new("python3")
            .arg(script())
            .args([case, &tern.addr().port().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs (with the h2 package: pip install h2)");
        let out = BufReader::new(child.stdout.take().expect("stdout"));
        let stdin = child.stdin.take().expect("stdin");
        Talk { child, out, stdin }
    }

    /// The case's next line, trimmed.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).expect("read a line");
        line.trim().to_owned()
    }

    fn say(&mut self, word: &str) {
        let _ = std::io::Write::write_all(&mut self.stdin, format!("{word}\n").as_bytes());
    }
}

impl Drop for Talk {
    fn drop(&mut self) {
        self.say("end");
        let _ = self.child.wait();
    }
}

/// Waits until `count` stops moving between two looks `every` apart (an
/// upstream that can write no more), for at most `limit`.
fn wait_until_still(count: &std::sync::atomic::AtomicU64, every: Duration, limit: Duration) {
    let mut last = u64::MAX;
    wait_until(limit, || {
        std::thread::sleep(every);
        let now = count.load(std::sync::atomic::Ordering::SeqCst);
        std::mem::replace(&mut last, now) == now
    });
}

/// curl with `args`, returning (stdout, the HTTP version it used).
fn curl(args: &[&str], url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_version}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, version) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (body.to_owned(), version.to_owned())
}

fn tls_curl(tern: &Tern, cert: &TestCert, version: &str, path: &str) -> (String, String) {
    let port = tern.addr().port();
    let resolve = format!("h2.test:{port}:127.0.0.1");
    let url = format!("https://h2.test:{port}{path}");
    curl(
        &[
            version,
            "--cacert",
            &cert.cert_file.path_str(),
            "--resolve",
            &resolve,
        ],
        &url,
    )
}

// ---------------------------------------------------------------------------
// Negotiation (RFC 9113 §3.2, §3.3)
// ---------------------------------------------------------------------------

#[test]
fn tls_listeners_offer_h2_then_http11_by_alpn() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("h2", &["h2.test"]);
    let tern = Tern::start(&tls_config(up.addr, &cert, ""));
    assert_eq!(
        tls_curl(&tern, &cert, "--http2", "/over-h2"),
        ("/over-h2".into(), "2".into())
    );
    assert_eq!(
        tls_curl(&tern, &cert, "--http1.1", "/over-h1"),
        ("/over-h1".into(), "1.1".into())
    );
    // A client offering both is given h2.
    let mut config = (*client_config(&[&cert])).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tls = connect_tls(tern.addr(), &Arc::new(config), "h2.test");
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"h2"[..]));
}

#[test]
fn large_bodies_stream_both_ways_over_tls_h2() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("h2big", &["h2.test"]);
    let tern = Tern::start(&tls_config(up.addr, &cert, ""));
    let body = pattern(1_500_000, 11);
    let dir = TempDir::new("h2-body");
    let file = dir.join("body");
    std::fs::write(&file, &body).unwrap();
    let port = tern.addr().port();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--http2"])
        .args(["--cacert", &cert.cert_file.path_str()])
        .args(["--resolve", &format!("h2.test:{port}:127.0.0.1")])
        .args(["--data-binary", &format!("@{}", file.display())])
        .arg(format!("https://h2.test:{port}/echo"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The echo upstream sends the body back: 1.5 MB up and down, through
    // flow-control windows far smaller than that.
    assert!(out.stdout == body, "got {} bytes back", out.stdout.len());
}

#[test]
fn http2_false_on_a_tls_listener_offers_only_http11() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("h1only", &["h2.test"]);
    let tern = Tern::start(&tls_config(up.addr, &cert, "http2 = false"));
    assert_eq!(
        tls_curl(&tern, &cert, "--http2", "/asked-h2"),
        ("/asked-h2".into(), "1.1".into())
    );
}

#[test]
fn plain_listeners_take_prior_knowledge_only_with_http2_true() {
    let up = RecordingUpstream::echo();
    let on = Tern::start(&h2c_config(up.addr, ""));
    let url = format!("http://{}/h2c", on.addr());
    assert_eq!(
        curl(&["--http2-prior-knowledge"], &url),
        ("/h2c".into(), "2".into())
    );
    // The same listener still serves HTTP/1.1, and no Upgrade to h2c.
    assert_eq!(curl(&["--http1.1"], &url), ("/h2c".into(), "1.1".into()));
    assert_eq!(curl(&["--http2"], &url), ("/h2c".into(), "1.1".into()));
    // Off by default: the preface is not a request tern can serve.
    let off = Tern::start(&Cfg::new(up.addr).render());
    let (_, version) = curl(
        &["--http2-prior-knowledge"],
        &format!("http://{}/h2c", off.addr()),
    );
    assert_ne!(version, "2");
}

#[test]
fn the_http2_key_must_be_a_boolean() {
    let file = TempFile::new(
        "h2.toml",
        "[[listener]]\nbind = \"127.0.0.1:0\"\nhttp2 = \"yes\"\n[[route]]\nrespond = { status = 200 }\n",
    );
    let out = run_tern(&["--check", "--config", &file.path_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("listener[0].http2"), "{stderr}");
    assert!(stderr.contains("h2.toml"), "{stderr}");
}

// ---------------------------------------------------------------------------
// The same semantics as HTTP/1.1
// ---------------------------------------------------------------------------

#[test]
fn a_stream_is_forwarded_as_http11_with_host_from_authority_and_cookies_joined() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let url = format!("http://{}/cookies?q=1", tern.addr());
    let (body, version) = curl(
        &[
            "--http2-prior-knowledge",
            "-H",
            "cookie: a=1",
            "-H",
            "cookie: b=2",
        ],
        &url,
    );
    assert_eq!((body.as_str(), version.as_str()), ("/cookies?q=1", "2"));
    let seen = up.requests();
    let head = &seen[0].head;
    assert_eq!(head.req_version(), "HTTP/1.1");
    assert_eq!(head.header("host"), Some(tern.addr().to_string()));
    assert_eq!(head.header_all("cookie"), vec!["a=1; b=2".to_string()]);
    assert_eq!(head.header("x-forwarded-proto").as_deref(), Some("http"));
}

#[test]
fn trace_is_answered_405_by_tern_over_http11_and_h2_and_never_reaches_the_upstream() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let url = format!("http://{}/trace", tern.addr());
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-o", "/dev/null"])
            .args(["-w", "%{http_code} %{http_version}", "-X", "TRACE", version])
            .args(["-H", "cookie: session=secret", &url])
            .output()
            .expect("curl runs");
        let said = String::from_utf8_lossy(&out.stdout);
        let expected = if version == "--http1.1" {
            "405 1.1"
        } else {
            "405 2"
        };
        assert_eq!(said, expected, "{version}");
    }
    // A GET after them goes through: the upstream saw only that.
    assert_eq!(curl(&["--http1.1"], &url).0, "/trace");
    let seen = up.requests();
    assert_eq!(seen.len(), 1, "a TRACE reached the upstream");
    assert_eq!(seen[0].head.method(), "GET");
}

#[test]
fn local_answers_and_nghttp_work_over_h2() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let url = format!("http://{}/local", tern.addr());
    assert_eq!(
        curl(&["--http2-prior-knowledge"], &url),
        ("local answer".into(), "2".into())
    );
    let out = Command::new("nghttp")
        .args(["-n", "--no-dep", "-t", "10", "-s"])
        .arg(format!("http://{}/a", tern.addr()))
        .arg(format!("http://{}/b", tern.addr()))
        .output()
        .expect("nghttp runs (apt nghttp2-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both requests went upstream, over tern's HTTP/1.1 pool.
    assert!(up.wait_requests(2, Duration::from_secs(5)));
}

#[test]
fn static_files_are_served_over_h2() {
    let dir = TempDir::new("h2-static");
    let root = &dir.path;
    let big = pattern(300_000, 7);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    let toml = format!(
        "[server]\nworkers = 1\n[[listener]]\nbind = \"127.0.0.1:0\"\nhttp2 = true\n\
         [[route]]\npath_prefix = \"/static/\"\nstatic = {{ root = \"{}\" }}\n",
        root.display()
    );
    let tern = Tern::start(&toml);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
        .arg(format!("http://{}/static/big.bin", tern.addr()))
        .output()
        .unwrap();
    assert!(out.stdout == big, "got {} bytes", out.stdout.len());
}

#[test]
fn the_access_log_says_http_2_0() {
    let up = RecordingUpstream::echo();
    let dir = TempDir::new("h2-log");
    let log = dir.join("access.log");
    let extra = format!("[log]\naccess = \"{}\"\n", log.display());
    let tern = Tern::start(&format!("{extra}{}", h2c_config(up.addr, "")));
    let url = format!("http://{}/logged", tern.addr());
    curl(&["--http2-prior-knowledge"], &url);
    let found = wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("\"GET /logged HTTP/2.0\" 200"))
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(found, "{text}");
}

/// An upstream answering every request with `len` bytes.
fn big_upstream(len: usize) -> RecordingUpstream {
    RecordingUpstream::start(move |c| {
        while let Some(_req) = c.read_request() {
            let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").into_bytes();
            out.extend_from_slice(&pattern(len, 3));
            if !c.write(&out) {
                return;
            }
        }
    })
}

#[test]
fn an_upstreams_103_is_relayed_as_interim_headers() {
    let up = RecordingUpstream::start(|c| {
        if c.read_request().is_some() {
            c.write(
                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n\
                  HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            );
        }
    });
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(
        frames("early_hints", &tern),
        "103 link=</a.css>; rel=preload 200"
    );
}

/// An upstream's 204 or 103 that carries Content-Length reaches an HTTP/2
/// client without it (RFC 9110 §8.6): curl resets a stream whose 204 says
/// `content-length`, and the 103's took the final answer down with it.
#[test]
fn framing_fields_an_upstream_puts_on_a_204_or_a_103_never_reach_an_h2_client() {
    let up = RecordingUpstream::start(|c| {
        while let Some(req) = c.read_request() {
            let answer: &[u8] = match req.head.target() {
                "/204" => b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
                _ => {
                    b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nContent-Length: 5\r\n\r\n\
                       HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                }
            };
            if !c.write(answer) {
                return;
            }
        }
    });
    let tern = Tern::start(&h2c_config(up.addr, ""));
    for (path, want) in [("/204", ""), ("/103", "ok")] {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
            .arg(format!("http://{}{path}", tern.addr()))
            .output()
            .expect("curl runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{path}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{path}");
    }
}

/// A chunked response with fields a route edits and fields HTTP/2 forbids.
fn chunked_upstream() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        while c.read_request().is_some() {
            let sent = c.write(
                b"HTTP/1.1 200 OK\r\nServer: app\r\nKeep-Alive: timeout=5\r\nX-App: 1\r\n\
                  Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            );
            if !sent {
                return;
            }
        }
    })
}

#[test]
fn a_relayed_head_keeps_the_routes_edits_and_its_chunked_body_arrives_plain() {
    let up = chunked_upstream();
    let toml = format!(
        "[server]\nworkers = 1\n[[listener]]\nbind = \"127.0.0.1:0\"\nhttp2 = true\n\
         [[route]]\nbackend = \"app\"\n\
         response_headers = {{ set = {{ Cache-Control = \"no-store\" }}, remove = [\"Server\"] }}\n\
         [backend.app]\nservers = [\"{}\"]\n",
        up.addr
    );
    let tern = Tern::start(&toml);
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge", "-i"])
        .arg(format!("http://{}/edited", tern.addr()))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(head.starts_with("http/2 200"), "{text}");
    assert!(head.contains("\r\nx-app: 1"), "{head}");
    assert!(head.contains("\r\ncache-control: no-store"), "{head}");
    assert!(
        !head.contains("server:"),
        "the route removes Server: {head}"
    );
    assert!(!head.contains("keep-alive"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert_eq!(body, "hello world", "the body without its chunk framing");
}

#[test]
fn a_body_without_length_streams_upstream_chunked() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(frames("chunked_body", &tern), "RESPONSE 200 one-two-three");
    let seen = up.requests();
    assert!(seen[0].head.is_chunked());
    assert_eq!(seen[0].body, b"one-two-three");
}

// ---------------------------------------------------------------------------
// RFC 9113 §4: frames
// ---------------------------------------------------------------------------

#[test]
fn s4_2_a_frame_over_the_max_frame_size_is_a_frame_size_error() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(frames("oversized_frame", &tern), "GOAWAY FRAME_SIZE_ERROR");
}

// ---------------------------------------------------------------------------
// RFC 9113 §5: streams
// ---------------------------------------------------------------------------

#[test]
fn s5_1_data_on_an_idle_stream_is_a_connection_protocol_error() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(
        frames("data_on_idle_stream", &tern),
        "GOAWAY PROTOCOL_ERROR"
    );
}

#[test]
fn s5_1_1_an_even_stream_id_from_a_client_is_a_protocol_error() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(frames("even_stream_id", &tern), "GOAWAY PROTOCOL_ERROR");
}

#[test]
fn s5_1_2_streams_past_the_128_advertised_are_refused() {
    let up = RecordingUpstream::silent();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(
        frames("max_concurrent_streams", &tern),
        "MAX 128 RST_STREAM 257 REFUSED_STREAM"
    );
}

#[test]
fn server_http2_sets_the_concurrent_streams_advertised_and_enforced() {
    let up = RecordingUpstream::silent();
    let toml = h2c_config(up.addr, "").replace(
        "shutdown_grace = \"5s\"\n",
        "shutdown_grace = \"5s\"\n[server.http2]\nmax_concurrent_streams = 4\n",
    );
    let tern = Tern::start(&toml);
    assert_eq!(
        frames("max_concurrent_streams", &tern),
        "MAX 4 RST_STREAM 9 REFUSED_STREAM"
    );
}

#[test]
fn server_http2_keys_are_checked() {
    for (line, key, words) in [
        (
            "max_concurrent_streams = 0",
            "max_concurrent_streams",
            "at least 1",
        ),
        ("stream_window = 100", "stream_window", "between 65535"),
        (
            "max_header_list_size = 10",
            "max_header_list_size",
            "at least 1024",
        ),
        (
            "no_progress_frames_per_second = 0",
            "no_progress_frames_per_second",
            "between 20 and 1000000",
        ),
        (
            "no_progress_frames_per_second = 50000000",
            "no_progress_frames_per_second",
            "between 20 and 1000000",
        ),
        ("max_streams = 10", "max_streams", "unknown field"),
    ] {
        let file = TempFile::new(
            "h2limits.toml",
            &format!(
                "[server.http2]\n{line}\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
                 [[route]]\nrespond = {{ status = 200 }}\n"
            ),
        );
        let out = run_tern(&["--check", "--config", &file.path_str()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{line}");
        assert!(stderr.contains("h2limits.toml"), "{line}: {stderr}");
        assert!(stderr.contains(key), "{line}: {stderr}");
        assert!(stderr.contains(words), "{line}: {stderr}");
    }
}

// ---------------------------------------------------------------------------
// RFC 9113 §6: frame definitions (SETTINGS, WINDOW_UPDATE) and §5.2 flow
// control
// ---------------------------------------------------------------------------

#[test]
fn s6_5_2_an_initial_window_over_2_31_minus_1_is_a_flow_control_error() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    // hyperium's h2 would say PROTOCOL_ERROR; tern's frame watch reads the
    // SETTINGS payload first and ends the connection with the RFC's code.
    assert_eq!(
        frames("bad_initial_window", &tern),
        "GOAWAY FLOW_CONTROL_ERROR"
    );
    still_serves(&tern);
}

#[test]
fn s6_9_a_zero_window_increment_on_the_connection_is_a_protocol_error() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(frames("window_update_zero", &tern), "GOAWAY PROTOCOL_ERROR");
}

#[test]
fn s6_9_1_a_window_past_2_31_minus_1_is_a_flow_control_error() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(
        frames("window_overflow", &tern),
        "GOAWAY FLOW_CONTROL_ERROR"
    );
}

#[test]
fn s5_2_a_response_waits_for_the_clients_window() {
    let up = big_upstream(100_000);
    let tern = Tern::start(&h2c_config(up.addr, ""));
    // The client's stream window is 1000 bytes: exactly that much comes,
    // then nothing until it opens the window; then the rest.
    assert_eq!(frames("window_stall", &tern), "STALLED 1000 TOTAL 100000");
}

#[test]
fn s5_2_a_reader_with_a_closed_window_holds_the_upstream_not_tern_memory() {
    use std::sync::atomic::{AtomicU64, Ordering};
    const TOTAL: u64 = 256 * 1024 * 1024;
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    let up = RecordingUpstream::start(move |c| {
        if c.read_request().is_none() {
            return;
        }
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {TOTAL}\r\n\r\n");
        if !c.write(head.as_bytes()) {
            return;
        }
        let chunk = vec![b'x'; 64 * 1024];
        while counter.load(Ordering::SeqCst) < TOTAL {
            // Blocks once tern stops reading (15 s write timeout).
            if c.conn.try_send(&chunk).is_err() {
                return;
            }
            counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
    });
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let mut talk = Talk::start("hold_window", &tern);
    talk.line();
    wait_until_still(
        &written,
        Duration::from_millis(300),
        Duration::from_secs(10),
    );
    let held = written.load(Ordering::SeqCst);
    drop(talk);
    // What the sockets' buffers hold, not the response: tern stopped
    // reading from the upstream when the client stopped taking bytes.
    assert!(held < 64 * 1024 * 1024, "the upstream wrote {held} bytes");
}

// ---------------------------------------------------------------------------
// RFC 9113 §8: HTTP semantics
// ---------------------------------------------------------------------------

#[test]
fn s8_2_1_an_uppercase_field_name_is_a_protocol_error() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    // Malformed (§8.2.1, §8.1.1); h2 ends the connection for it.
    assert_eq!(frames("uppercase_name", &tern), "GOAWAY PROTOCOL_ERROR");
}

#[test]
fn s8_2_2_connection_specific_fields_are_a_stream_protocol_error() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(
        frames("connection_header", &tern),
        "RST_STREAM 1 PROTOCOL_ERROR"
    );
    assert_eq!(frames("te_gzip", &tern), "RST_STREAM 1 PROTOCOL_ERROR");
    // `te: trailers` is the one TE allowed.
    assert!(frames("te_trailers", &tern).starts_with("RESPONSE 200"));
    assert_eq!(up.request_count(), 1);
}

#[test]
fn s8_3_1_missing_pseudo_headers_are_a_stream_protocol_error() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(frames("missing_path", &tern), "RST_STREAM 1 PROTOCOL_ERROR");
    assert_eq!(
        frames("missing_method", &tern),
        "RST_STREAM 1 PROTOCOL_ERROR"
    );
    assert_eq!(up.request_count(), 0);
}

#[test]
fn s8_3_1_a_host_that_contradicts_authority_is_a_stream_protocol_error() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(
        frames("host_conflict", &tern),
        "RST_STREAM 1 PROTOCOL_ERROR"
    );
    assert_eq!(up.request_count(), 0);
}

// ---------------------------------------------------------------------------
// Denial of service (RFC 9113 §10.5)
// ---------------------------------------------------------------------------

/// A normal client is served by the same tern after an attack.
fn still_serves(tern: &Tern) {
    let url = format!("http://{}/after", tern.addr());
    assert_eq!(
        curl(&["--http2-prior-knowledge"], &url),
        ("/after".into(), "2".into())
    );
}

#[test]
fn rapid_reset_ends_the_connection_and_others_are_still_served() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(frames("rapid_reset", &tern), "GOAWAY ENHANCE_YOUR_CALM");
    still_serves(&tern);
    // The reset streams cost no more than a few upstream requests.
    assert!(up.request_count() < 200, "{}", up.request_count());
}

/// The N of a verdict ending "... after N streams".
fn streams_in(verdict: &str) -> usize {
    let count = verdict.rsplit(" after ").next().unwrap_or_default();
    let count = count.trim_end_matches(" streams");
    count.parse().unwrap_or(usize::MAX)
}

#[test]
fn streams_reset_after_they_were_accepted_end_the_connection() {
    // Rapid reset with a delay: each stream is reset some 5 ms after it
    // was opened, once tern has accepted it (h2's pending-accept limit
    // never sees these resets). tern's budget of resets ends the
    // connection within a bounded number of streams, not the 3,000 sent.
    let up = RecordingUpstream::start(|c| match c.read_request() {
        Some(req) if req.head.target() == "/after" => {
            c.respond(200, &[], b"/after");
        }
        // Silent: the reset streams' requests wait here until tern leaves.
        _ => drop(c.conn.read_to_eof()),
    });
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let verdict = frames("reset_after_accept", &tern);
    eprintln!("{verdict}; upstream saw {} connections", up.conn_count());
    assert!(
        verdict.starts_with("GOAWAY ENHANCE_YOUR_CALM"),
        "{verdict}; upstream saw {} connections",
        up.conn_count()
    );
    // The floor (2 × 128 resets) and a window of streams, with room for
    // the batches sent before the GOAWAY arrived.
    assert!(streams_in(&verdict) <= 600, "{verdict}");
    assert!(up.conn_count() <= 600, "{}", up.conn_count());
    still_serves(&tern);
}

#[test]
fn streams_reset_under_their_tasks_hold_no_more_upstream_requests_than_the_window() {
    // A route whose requests run to their end when the client leaves:
    // every reset stream's exchange stays on its (silent) upstream. The
    // client opens 16 streams (the window), resets them once tern has
    // them, and again: tern takes no new stream while 16 tasks are alive,
    // so the upstream never has more than 16 requests at once from this
    // connection; the resets of the streams left waiting end it.
    use std::sync::atomic::{AtomicUsize, Ordering};
    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (open_in, peak_in) = (open.clone(), peak.clone());
    let up = RecordingUpstream::start(move |c| {
        let now = open_in.fetch_add(1, Ordering::SeqCst) + 1;
        peak_in.fetch_max(now, Ordering::SeqCst);
        let _ = c.conn.read_to_eof();
        open_in.fetch_sub(1, Ordering::SeqCst);
    });
    let toml = h2c_config(up.addr, "")
        .replace(
            "shutdown_grace = \"5s\"\n",
            "shutdown_grace = \"5s\"\n[server.http2]\nmax_concurrent_streams = 16\n",
        )
        .replace(
            "[[route]]\nbackend = \"app\"\n",
            "[[route]]\nbackend = \"app\"\nabort_on_close = \"never\"\n",
        );
    assert!(toml.contains("abort_on_close"), "{toml}");
    let tern = Tern::start(&toml);
    let verdict = frames("reset_held_streams", &tern);
    let peak = peak.load(Ordering::SeqCst);
    eprintln!("{verdict}; at most {peak} upstream requests at once");
    assert!(
        peak <= 16 + 2,
        "{peak} upstream requests at once ({verdict}, {} in all)",
        up.conn_count()
    );
    assert!(verdict.starts_with("GOAWAY ENHANCE_YOUR_CALM"), "{verdict}");
}

#[test]
fn a_continuation_flood_ends_the_connection() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(
        frames("continuation_flood", &tern),
        "GOAWAY ENHANCE_YOUR_CALM"
    );
    still_serves(&tern);
}

#[test]
fn a_header_list_over_the_limit_is_refused_431_and_the_connection_goes_on() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(
        frames("header_list_too_large", &tern),
        "RESPONSE 431  | RESPONSE 200 /after"
    );
}

#[test]
fn a_ping_flood_under_the_limit_leaves_the_connection_serving() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    // 5,000 PINGs: fewer than the default 10,000 frames of no progress a
    // second, however fast they come.
    assert_eq!(frames("ping_flood", &tern), "RESPONSE 200 /after-pings");
}

/// `h2c_config` with `[server.http2] no_progress_frames_per_second = limit`.
fn no_progress_config(upstream: SocketAddr, limit: u32) -> String {
    h2c_config(upstream, "").replace(
        "shutdown_grace = \"5s\"\n",
        &format!(
            "shutdown_grace = \"5s\"\n[server.http2]\nno_progress_frames_per_second = {limit}\n"
        ),
    )
}

#[test]
fn a_low_no_progress_limit_ends_ping_and_settings_floods() {
    // The same 5,000 PINGs (or SETTINGS) the default lets through, against
    // a limit of 50 a second.
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&no_progress_config(up.addr, 50));
    for case in ["ping_flood", "settings_flood"] {
        assert_eq!(frames(case, &tern), "GOAWAY ENHANCE_YOUR_CALM", "{case}");
        still_serves(&tern);
    }
}

#[test]
fn a_reload_applies_the_no_progress_limit_to_new_connections() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(frames("ping_flood", &tern), "RESPONSE 200 /after-pings");
    std::fs::write(tern.config_path(), no_progress_config(up.addr, 50)).unwrap();
    tern.signal("HUP");
    assert!(common::traffic::wait_lines(
        &tern,
        "reloaded",
        1,
        Duration::from_secs(10)
    ));
    assert_eq!(frames("ping_flood", &tern), "GOAWAY ENHANCE_YOUR_CALM");
}

/// tern's resident memory in KiB.
fn rss_kib(tern: &Tern) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", tern.pid())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(u64::MAX)
}

/// RFC 9113 §8.1.1: DATA past the content-length makes the request
/// malformed. Past it in a later frame, the request went upstream with the
/// declared 100 bytes and was answered 200 (nginx: 400, nothing upstream);
/// a small body is now taken to its END_STREAM before an upstream is
/// chosen. An END_STREAM in a frame of its own is waited for.
#[test]
fn s8_1_1_data_past_the_content_length_in_a_later_frame_never_reaches_the_upstream() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let refused = frames("length_then_more_data", &tern);
    assert!(
        refused == "RST_STREAM 1 PROTOCOL_ERROR" || refused.starts_with("RESPONSE 400"),
        "{refused}"
    );
    assert_eq!(up.conn_count(), 0, "the malformed request went upstream");
    let whole = frames("length_then_end", &tern);
    assert_eq!(whole, format!("RESPONSE 200 {}", "a".repeat(100)));
}

#[test]
fn frames_of_no_progress_end_the_connection_with_enhance_your_calm() {
    // 100,000 WINDOW_UPDATE, PRIORITY, empty DATA or unknown-type frames
    // on an open upload: past the default 10,000 a second
    // (`no_progress_frames_per_second`, or h2's own bound for empty DATA)
    // the connection ends.
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    for case in [
        "window_update_flood",
        "priority_flood",
        "empty_data_flood",
        "unknown_type_flood",
    ] {
        assert_eq!(frames(case, &tern), "GOAWAY ENHANCE_YOUR_CALM", "{case}");
        still_serves(&tern);
    }
}

#[test]
fn streams_opened_and_never_finished_past_the_limit_end_the_connection() {
    // 5,000 HEADERS opening uploads that never send their body nor a
    // reset: past 128 each is refused, and the refusals are bounded.
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(frames("headers_flood", &tern), "GOAWAY ENHANCE_YOUR_CALM");
    still_serves(&tern);
    assert!(up.conn_count() <= 129, "{}", up.conn_count());
}

#[test]
fn an_hpack_bomb_ends_the_connection_without_decoding_it() {
    // A 4,000-byte header inserted once in the HPACK table and referenced
    // 12,000 times: 48 MB decoded from a 15 KB block. h2 stops decoding at
    // four times the header list limit and ends the connection.
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let before = rss_kib(&tern);
    assert_eq!(frames("hpack_bomb", &tern), "GOAWAY ENHANCE_YOUR_CALM");
    still_serves(&tern);
    let grown = rss_kib(&tern).saturating_sub(before);
    assert!(grown < 16 * 1024, "tern grew by {grown} KiB");
    assert_eq!(
        up.request_count(),
        1,
        "only the normal request went upstream"
    );
}

#[test]
fn many_streams_with_a_zero_window_hold_bounded_memory() {
    // 100 streams whose client never opens its window (initial window 0),
    // each on an upstream with 8 MiB to send: tern holds at most its send
    // buffer per stream, and the upstreams wait.
    use std::sync::atomic::{AtomicU64, Ordering};
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    let up = RecordingUpstream::start(move |c| {
        let Some(req) = c.read_request() else { return };
        if req.head.target() == "/after" {
            c.respond(200, &[], b"/after");
            return;
        }
        const TOTAL: usize = 8 * 1024 * 1024;
        if !c.write(format!("HTTP/1.1 200 OK\r\nContent-Length: {TOTAL}\r\n\r\n").as_bytes()) {
            return;
        }
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..TOTAL / chunk.len() {
            // Blocks once tern stops reading (15 s write timeout).
            if c.conn.try_send(&chunk).is_err() {
                return;
            }
            counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
    });
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let before = rss_kib(&tern);
    let mut talk = Talk::start("zero_window_streams", &tern);
    let line = talk.line();
    wait_until_still(
        &written,
        Duration::from_millis(500),
        Duration::from_secs(20),
    );
    let grown = rss_kib(&tern).saturating_sub(before);
    let held = written.load(Ordering::SeqCst);
    eprintln!("tern grew by {grown} KiB while upstreams wrote {held} bytes");
    still_serves(&tern);
    drop(talk);
    assert_eq!(line, "HEADS 100");
    // 100 × 64 KiB of send buffer, plus read buffers: far below the
    // 800 MiB the upstreams offered (which tern would hold if it took
    // the upstreams' bytes faster than the client's window opens).
    assert!(
        grown < 64 * 1024,
        "tern grew by {grown} KiB; upstreams wrote {held}"
    );
}

#[test]
fn a_small_response_waiting_on_the_clients_window_does_not_hold_its_upstream() {
    let up = big_upstream(100);
    let cfg = h2c_config(up.addr, "").replace(
        &format!("servers = [\"{}\"]", up.addr),
        &format!(
            "servers = [{{ address = \"{}\", max_connections = 1 }}]\n\
             timeouts = {{ queue = \"3s\" }}",
            up.addr
        ),
    );
    assert!(cfg.contains("max_connections = 1"), "{cfg}");
    let tern = Tern::start(&cfg);
    // Stream 1's 100-byte body waits for a window that never opens; its
    // upstream connection, done with, goes back to the pool before that
    // write, so stream 3 is answered on it (not queued for it until 503).
    assert_eq!(frames("small_body_unread", &tern), "1: 200, 3: 200");
    assert_eq!(up.conn_count(), 1);
}

#[test]
fn a_long_poll_stream_reset_by_the_client_frees_its_upstream_connection() {
    let up = RecordingUpstream::silent();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let mut talk = Talk::start("reset_while_waiting", &tern);
    assert_eq!(talk.line(), "SENT");
    assert!(up.wait_conns(1, Duration::from_secs(5)));
    assert!(wait_until(Duration::from_secs(5), || contains(
        &up.conn_bytes(0),
        b"GET /poll"
    )));
    assert!(!up.conn_peer_eof(0));
    talk.say("reset");
    // The upstream sees its connection closed: the request is aborted
    // there and the server's slot is free, while the client's HTTP/2
    // connection stays open.
    let freed = wait_until(Duration::from_secs(5), || up.conn_peer_eof(0));
    drop(talk);
    assert!(freed);
}

#[test]
fn metrics_split_requests_by_protocol() {
    let up = RecordingUpstream::echo();
    let toml = format!(
        "{}\n[admin]\nbind = \"127.0.0.1:0\"\n",
        h2c_config(up.addr, "name = \"web\"")
    );
    let tern = Tern::start(&toml);
    let web = tern.listeners.iter().find(|(_, n)| n == "web").unwrap().0;
    let admin = tern.listeners.iter().find(|(_, n)| n == "admin").unwrap().0;
    let url = format!("http://{web}/m");
    assert_eq!(curl(&["--http2-prior-knowledge"], &url).1, "2");
    assert_eq!(curl(&["--http2-prior-knowledge"], &url).1, "2");
    assert_eq!(curl(&["--http1.1"], &url).1, "1.1");
    let want = [
        "tern_protocol_requests_total{protocol=\"HTTP/2\",class=\"2xx\"} 2\n",
        "tern_protocol_requests_total{protocol=\"HTTP/1.1\",class=\"2xx\"} 1\n",
    ];
    let mut text = String::new();
    let found = wait_until(Duration::from_secs(5), || {
        text = curl(&[], &format!("http://{admin}/metrics")).0;
        want.iter().all(|w| text.contains(w))
    });
    assert!(found, "{text}");
}

/// A graceful GOAWAY waits for the client's answer to its PING; a client
/// that never answers (or a dead one) must not hold the connection for
/// ever: it is closed `shutdown_grace` after the GOAWAY (nginx closes at
/// its idle timeout).
#[test]
fn an_idle_connection_whose_client_says_nothing_is_closed_all_the_same() {
    let up = RecordingUpstream::echo();
    let toml = h2c_config(up.addr, "").replace(
        "shutdown_grace = \"5s\"\n",
        "shutdown_grace = \"1s\"\n[server.timeouts]\nclient_idle = \"300ms\"\n",
    );
    let tern = Tern::start(&toml);
    assert_eq!(
        frames("idle_silent", &tern),
        "200 | GOAWAY NO_ERROR | closed"
    );
}

/// RFC 9113 §3.4: the preface is followed by SETTINGS. A client that sends
/// the preface alone is closed at the header timeout (1 s here), as one
/// that sends nothing is; it was held for client_idle (20 s here) and
/// shutdown_grace, seven times as long at the defaults (nginx: its
/// header timeout).
#[test]
fn s3_4_a_preface_without_settings_is_closed_at_the_header_timeout() {
    let up = RecordingUpstream::echo();
    let toml = h2c_config(up.addr, "").replace(
        "shutdown_grace = \"5s\"\n",
        "shutdown_grace = \"5s\"\n[server.timeouts]\nclient_header = \"1s\"\nclient_idle = \"20s\"\n",
    );
    let tern = Tern::start(&toml);
    let mut conn = Conn::connect(tern.addr());
    conn.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert!(
        conn.expect_close(Duration::from_secs(10)).is_ok(),
        "a preface alone held the connection past the header timeout"
    );
}

#[test]
fn an_idle_connection_is_closed_with_goaway() {
    let up = RecordingUpstream::echo();
    let toml = h2c_config(up.addr, "").replace(
        "shutdown_grace = \"5s\"\n",
        "shutdown_grace = \"5s\"\n[server.timeouts]\nclient_idle = \"300ms\"\n",
    );
    let tern = Tern::start(&toml);
    assert_eq!(frames("idle", &tern), "200 | GOAWAY NO_ERROR last=1");
}

#[test]
fn an_idle_connection_idles_from_the_end_of_its_last_stream() {
    // The stream spans one idle check (the upstream answers 1.5 s after
    // the request, client_idle 1 s): the connection idles from when the
    // response ended, not from the check before it.
    let idle = Duration::from_secs(1);
    let up = RecordingUpstream::start(|c| {
        while c.read_request().is_some() {
            std::thread::sleep(Duration::from_millis(1500));
            if !c.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow") {
                return;
            }
        }
    });
    let toml = h2c_config(up.addr, "").replace(
        "shutdown_grace = \"5s\"\n",
        "shutdown_grace = \"5s\"\n[server.timeouts]\nclient_idle = \"1s\"\n",
    );
    let tern = Tern::start(&toml);
    let out = frames("idle_after_slow_response", &tern);
    let waited: u64 = out
        .strip_prefix("200 | GOAWAY ")
        .and_then(|rest| rest.strip_suffix(" ms after the response"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("a response, then GOAWAY: {out}"));
    // The client's clock starts once the response reached it, a little
    // after tern's: allow it 50 ms.
    assert!(
        waited + 50 >= idle.as_millis() as u64,
        "GOAWAY {waited} ms after the response, client_idle is {idle:?}"
    );
}

#[test]
fn after_a_reload_new_streams_on_the_same_connection_use_the_new_plan() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let mut talk = Talk::start("two_streams_with_pause", &tern);
    assert_eq!(talk.line(), "RESPONSE 200 local answer");
    let changed = h2c_config(up.addr, "").replace("local answer", "reloaded answer");
    std::fs::write(tern.config_path(), changed).unwrap();
    tern.signal("HUP");
    assert!(common::traffic::wait_lines(
        &tern,
        "reloaded",
        1,
        Duration::from_secs(10)
    ));
    talk.say("go");
    assert_eq!(talk.line(), "RESPONSE 200 reloaded answer");
}

// ---------------------------------------------------------------------------
// WebSockets over HTTP/2 (RFC 8441)
// ---------------------------------------------------------------------------

/// An upstream whose answers end early by path: a chunked body cut after
/// its first chunk, one cut before its first byte, one whole; and a plain
/// 200 to a WebSocket upgrade.
fn cutting_upstream() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        while let Some(req) = c.read_request() {
            let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            let (answer, then_close) = match req.head.target() {
                "/cut-chunked" => (format!("{head}5\r\nhello\r\n"), true),
                "/cut-before-body" => (head.to_owned(), true),
                "/whole-chunked" => (format!("{head}5\r\nhello\r\n0\r\n\r\n"), false),
                _ => (
                    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n<html>".to_owned(),
                    false,
                ),
            };
            if !c.write(answer.as_bytes()) || then_close {
                return;
            }
        }
    })
}

/// A body that runs to its end (chunked, or until the upstream closes)
/// and is cut short must not reach an h2 client as a whole response: the
/// stream is reset (RFC 9113 §8.1), as a Content-Length one already was.
/// Cut before its first byte, after tern sent HEADERS, it was worse: tern's
/// 502 page went out as the 200's body.
#[test]
fn an_upstream_body_cut_short_resets_the_stream_and_a_whole_one_ends_it() {
    let up = cutting_upstream();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(frames("cut_chunked", &tern), "RST_STREAM 1 INTERNAL_ERROR");
    assert_eq!(
        frames("cut_before_body", &tern),
        "RST_STREAM 1 INTERNAL_ERROR"
    );
    assert_eq!(frames("whole_chunked", &tern), "RESPONSE 200 hello");
}

/// RFC 8441 §5: any 2xx to an extended CONNECT opens the tunnel, so an
/// upstream that answers a WebSocket upgrade with a plain 200 (it ignored
/// the upgrade) must not be relayed as one: the client would take the page
/// for WebSocket frames. Over HTTP/1.1 the client sees the 200 for itself.
#[test]
fn rfc8441_a_websocket_the_upstream_did_not_switch_is_a_502() {
    let up = cutting_upstream();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let outcome = frames("websocket_not_switched", &tern);
    assert!(outcome.starts_with("RESPONSE 502 "), "{outcome}");
}

#[test]
fn rfc8441_a_websocket_over_h2_reaches_an_http11_upstream_as_an_upgrade() {
    // An HTTP/1.1 WebSocket upstream: checks the upgrade, answers 101, then
    // echoes bytes until tern half-closes.
    let up = RecordingUpstream::start(|c| {
        let Some(req) = c.read_request() else { return };
        let key = req.head.header("sec-websocket-key").unwrap_or_default();
        let ok = req.head.method() == "GET"
            && req.head.target() == "/ws"
            && req.head.header("upgrade").as_deref() == Some("websocket")
            && req.head.has_token("connection", "upgrade")
            && req.head.header("sec-websocket-version").as_deref() == Some("13")
            && key.len() == 24;
        if !ok {
            c.respond(400, &[], b"not a websocket upgrade");
            return;
        }
        let switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                       Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
        if !c.write(switch) {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match std::io::Read::read(&mut c.conn.stream, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if !c.write(&buf[..n]) {
                        return;
                    }
                }
            }
        }
    });
    let log = TempFile::new("ws-access.log", "");
    let extra = format!("[log]\naccess = \"{}\"\n", log.path_str());
    let tern = Tern::start(&format!("{extra}{}", h2c_config(up.addr, "")));
    assert_eq!(
        frames("websocket", &tern),
        "SETTING 1 STATUS 200 ECHO ping over h2 ENDED"
    );
    // Logged as the client saw it: 200, not the upstream's 101.
    let mut text = String::new();
    let logged = wait_until(Duration::from_secs(5), || {
        text = std::fs::read_to_string(&log.path).unwrap_or_default();
        text.contains("/ws HTTP/2.0\" ")
    });
    assert!(logged && text.contains("/ws HTTP/2.0\" 200 "), "{text}");
}

/// A WebSocket stream whose client keeps its window shut while the
/// upstream pushes: nothing moves, and at the tunnel timeout the tunnel
/// ends, the upstream's connection with it (as over HTTP/1.1, where the
/// client stops reading).
#[test]
fn rfc8441_a_websocket_whose_client_keeps_its_window_shut_ends_at_the_tunnel_timeout() {
    let (ended, seen) = std::sync::mpsc::channel();
    let up = RecordingUpstream::start(move |c| {
        if c.read_head().is_none() {
            return;
        }
        let switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                       Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
        if !c.write(switch) {
            return;
        }
        let chunk = vec![b'x'; 64 << 10];
        // Bounded: 64 MiB is far more than the sockets between hold.
        for _ in 0..1024 {
            if !c.write(&chunk) {
                let _ = ended.send(());
                return;
            }
        }
    });
    let config = h2c_config(up.addr, "") + "timeouts = { tunnel = \"1s\" }\n";
    let tern = Tern::start(&config);
    let outcome = frames("websocket_window_shut", &tern);
    assert!(
        outcome.ends_with("status=200") && !outcome.starts_with("TIMEOUT"),
        "{outcome}"
    );
    assert!(
        seen.recv_timeout(Duration::from_secs(15)).is_ok(),
        "the upstream's connection outlived the tunnel timeout"
    );
}

#[test]
fn a_panic_in_a_stream_ends_that_stream_only() {
    // Debug builds panic in the task of a request whose line contains this
    // (src/contain.rs); nextest runs each test in its own process.
    std::env::set_var("TERN_DEBUG_PANIC", "/inject-a-panic");
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    assert_eq!(
        frames("panic_then_ok", &tern),
        "RST_STREAM 1 CANCEL | RESPONSE 200 /after"
    );
    still_serves(&tern);
}

#[test]
fn a_settings_flood_leaves_the_connection_serving() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&h2c_config(up.addr, ""));
    // 5,000 SETTINGS frames, each owed an ACK (under the default limit of
    // frames of no progress a second); then a request on the same
    // connection is served, and tern stays up for others.
    assert_eq!(
        frames("settings_flood", &tern),
        "RESPONSE 200 /after-settings"
    );
    still_serves(&tern);
}

// ---------------------------------------------------------------------------
// Drain and stop
// ---------------------------------------------------------------------------

#[test]
fn stop_sends_goaway_and_the_stream_in_flight_finishes() {
    // The upstream answers only after a while: the stream is in flight
    // when tern is told to stop.
    let up = RecordingUpstream::start(|c| {
        while let Some(_req) = c.read_request() {
            std::thread::sleep(Duration::from_millis(800));
            if !c.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone") {
                return;
            }
        }
    });
    let tern = Tern::start(&h2c_config(up.addr, ""));
    let mut talk = Talk::start("goaway_on_stop", &tern);
    assert_eq!(talk.line(), "SENT");
    assert!(up.wait_requests(0, Duration::from_secs(5)));
    assert!(wait_until(Duration::from_secs(5), || up.conn_count() > 0));
    tern.sigterm();
    assert_eq!(talk.line(), "GOAWAY NO_ERROR last=1 RESPONSE 200");
}

#[test]
fn a_stream_s_body_over_max_body_bytes_gets_413_with_or_without_a_length() {
    let up = RecordingUpstream::echo();
    let limited = h2c_config(up.addr, "").replace(
        "[[listener]]",
        "[server.limits]\nmax_body_bytes = 1000\n[[listener]]",
    );
    let tern = Tern::start(&limited);
    // 2,000 bytes from a frame-level client that reads only once it has
    // sent them all: curl, still uploading when the 413 and its
    // RST_STREAM NO_ERROR come, reports the stream failed ("000") some of
    // the time. With a length: refused from the head; without: as the
    // DATA crosses the limit.
    for case in ["length_past_limit", "body_past_limit"] {
        let answer = frames(case, &tern);
        assert!(answer.starts_with("RESPONSE 413"), "{case}: {answer}");
    }
    let url = format!("http://{}/up", tern.addr());
    let status = |args: &[&str]| {
        let mut all = vec![
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ];
        all.extend_from_slice(args);
        curl(&all, &url).0
    };
    let small = TempFile::new("small", &"s".repeat(1000));
    assert_eq!(
        status(&["--data-binary", &format!("@{}", small.path_str())]),
        "200"
    );
}
