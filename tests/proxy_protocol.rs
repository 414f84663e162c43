//! The PROXY protocol: `accept_proxy` listeners (v1 and v2, plain and TLS)
//! take the client address from the header for X-Forwarded-For, `source`
//! conditions and the access log; an allowed peer without a header is
//! closed, anyone else sending one gets a 400. `send_proxy` servers get a
//! header, parsed here by the test's own parser, on every connection and
//! health check, and such connections are never reused.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::tls_client::*;
use common::*;

const V2_SIG: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

fn v2_tcp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h
}

fn v2_tcp6(src: &str, dst: &str) -> Vec<u8> {
    let (s, d): (std::net::Ipv6Addr, std::net::Ipv6Addr) =
        (src.parse().expect("src"), dst.parse().expect("dst"));
    let mut h = V2_SIG.to_vec();
    h.extend_from_slice(&[0x21, 0x21, 0, 36]);
    h.extend_from_slice(&s.octets());
    h.extend_from_slice(&d.octets());
    h.extend_from_slice(&1234u16.to_be_bytes());
    h.extend_from_slice(&443u16.to_be_bytes());
    h
}

const V2_LOCAL: &[u8] = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00";

fn config(upstream: SocketAddr, listener_extra: &str, log: &str) -> String {
    format!(
        "[server]\nworkers = 2\n[server.timeouts]\nclient_header = \"2s\"\n{log}\n\
         [[listener]]\nname = \"edge\"\nbind = \"127.0.0.1:0\"\n{listener_extra}\n\
         [[route]]\nsource = \"203.0.113.0/24\"\nrespond = {{ status = 200, body = \"lan\" }}\n\
         [[route]]\nname = \"app\"\nbackend = \"app\"\n\
         [backend.app]\nservers = [\"{upstream}\"]\n"
    )
}

fn forwarded_for(up: &RecordingUpstream) -> Vec<String> {
    up.requests()
        .iter()
        .map(|r| r.head.header("x-forwarded-for").unwrap_or_default())
        .collect()
}

/// Sends `header` then `requests` on one connection; the response bodies.
fn through(tern: &Tern, header: &[u8], requests: usize) -> Vec<Response> {
    let mut c = tern.connect();
    c.send(header);
    (0..requests).map(|_| c.roundtrip(&get("/x"))).collect()
}

#[test]
fn a_v1_header_names_the_client_for_forwarding_conditions_and_the_log() {
    let up = RecordingUpstream::echo();
    let dir = TempDir::new("pp");
    let log = dir.join("access.log");
    let tern = Tern::start(&config(
        up.addr,
        "accept_proxy = true",
        &format!("[log]\naccess = \"{}\"", log.display()),
    ));
    let got = through(&tern, b"PROXY TCP4 198.51.100.9 127.0.0.1 40000 80\r\n", 2);
    assert!(got.iter().all(|r| r.status == 200));
    assert_eq!(forwarded_for(&up), ["198.51.100.9", "198.51.100.9"]);
    // A `source` condition sees the carried address too.
    let lan = through(&tern, b"PROXY TCP4 203.0.113.5 127.0.0.1 40001 80\r\n", 1);
    assert_eq!(lan[0].body_str(), "lan");
    assert_eq!(up.request_count(), 2);
    let logged = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let from = |ip: &str| text.lines().filter(|l| l.starts_with(ip)).count();
        from("198.51.100.9 ") == 2 && from("203.0.113.5 ") == 1
    };
    assert!(wait_until(Duration::from_secs(5), logged), "access log");
}

#[test]
fn a_v2_header_names_the_client_and_local_or_unknown_keep_the_peer() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&config(up.addr, "accept_proxy = true", ""));
    through(&tern, &v2_tcp6("2001:db8::42", "2001:db8::1"), 1);
    through(
        &tern,
        &v2_tcp4([192, 0, 2, 77], 5555, [127, 0, 0, 1], 80),
        1,
    );
    through(&tern, V2_LOCAL, 1);
    through(&tern, b"PROXY UNKNOWN\r\n", 1);
    assert_eq!(
        forwarded_for(&up),
        ["2001:db8::42", "192.0.2.77", "127.0.0.1", "127.0.0.1"]
    );
    // The header and the request in one segment, and the header split
    // over two writes: only the header's own bytes are taken.
    let mut c = tern.connect();
    let mut both = b"PROXY TCP4 192.0.2.1 127.0.0.1 1 80\r\n".to_vec();
    both.extend_from_slice(&get("/y"));
    assert_eq!(c.roundtrip(&both).status, 200);
    let mut c = tern.connect();
    let header = v2_tcp4([192, 0, 2, 2], 1, [127, 0, 0, 1], 80);
    c.send(&header[..7]);
    std::thread::sleep(Duration::from_millis(50));
    c.send(&header[7..]);
    assert_eq!(c.roundtrip(&get("/z")).status, 200);
    let xff = forwarded_for(&up);
    assert_eq!(&xff[4..], ["192.0.2.1", "192.0.2.2"]);
}

#[test]
fn an_allowed_peer_without_a_valid_header_is_closed_unanswered() {
    let up = RecordingUpstream::echo();
    let tern = Tern::start(&config(up.addr, "accept_proxy = true", ""));
    for bad in [
        get("/"),
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\nGET / HTTP/1.1\r\n\r\n".to_vec(),
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nGET / HTTP/1.1\r\n\r\n".to_vec(),
        [V2_SIG, &[0x21, 0x99, 0, 0]].concat(),
    ] {
        let (answer, closed) = raw_request(tern.addr(), &bad);
        assert!(
            closed && answer.is_empty(),
            "{}: {}",
            show(&bad),
            show(&answer)
        );
    }
    assert_eq!(up.request_count(), 0);
}

#[test]
fn a_header_from_anyone_else_is_a_400() {
    let up = RecordingUpstream::echo();
    // Loopback may not send one here, so the test's connections are "anyone".
    let elsewhere = "accept_proxy = true\nproxy_from = [\"192.0.2.0/24\"]";
    let strict = Tern::start(&config(up.addr, elsewhere, ""));
    let plain = Tern::start(&config(up.addr, "", ""));
    for tern in [&strict, &plain] {
        for header in [
            b"PROXY TCP4 203.0.113.5 127.0.0.1 40000 80\r\n".to_vec(),
            v2_tcp4([203, 0, 113, 5], 1, [127, 0, 0, 1], 80),
        ] {
            let mut bytes = header.clone();
            bytes.extend_from_slice(&get("/"));
            let (answer, _) = raw_request(tern.addr(), &bytes);
            assert_eq!(status_of(&answer), Some(400), "{}", show(&answer));
        }
        // A plain request is served, as from its peer.
        assert_eq!(tern.connect().roundtrip(&get("/")).status, 200);
    }
    assert_eq!(forwarded_for(&up), ["127.0.0.1", "127.0.0.1"]);
}

#[test]
fn a_tls_listener_reads_the_header_before_the_handshake() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("pp", &["site.test"]);
    let tls = format!(
        "accept_proxy = true\ntls = {{ certificates = [{{ cert = \"{}\", key = \"{}\" }}] }}",
        cert.cert_file.path_str(),
        cert.key_file.path_str()
    );
    let tern = Tern::start(&config(up.addr, &tls, ""));
    let config = client_config(&[&cert]);
    for header in [
        b"PROXY TCP4 198.51.100.20 127.0.0.1 1 443\r\n".to_vec(),
        v2_tcp6("2001:db8::20", "2001:db8::1"),
    ] {
        let mut tcp = TcpStream::connect(tern.addr()).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        tcp.write_all(&header).expect("header");
        let name = rustls::pki_types::ServerName::try_from("site.test").expect("name");
        let conn = rustls::ClientConnection::new(config.clone(), name).expect("client");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let (head, _) = tls_roundtrip(&mut tls, b"GET /s HTTP/1.1\r\nHost: site.test\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    let r = up.requests();
    assert_eq!(forwarded_for(&up), ["198.51.100.20", "2001:db8::20"]);
    assert!(r
        .iter()
        .all(|r| r.head.header("x-forwarded-proto").as_deref() == Some("https")));
}

/// What a `send_proxy` upstream saw first on each connection.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    V1(String),
    V2 {
        command: u8,
        src: SocketAddr,
        dst: SocketAddr,
    },
}

/// The test's own PROXY header reader (v1 line, v2 TCP4 / LOCAL).
fn read_proxy_header(c: &mut UpConn) -> Option<Seen> {
    let first = c.read_exact_n(5).ok()?;
    if first == b"PROXY" {
        let rest = c.read_until(b"\r\n").ok()?;
        let line = [first, rest].concat();
        return Some(Seen::V1(
            String::from_utf8(line).ok()?.trim_end().to_owned(),
        ));
    }
    let rest = c.read_exact_n(11).ok()?;
    let fixed = [first, rest].concat();
    assert_eq!(&fixed[..12], V2_SIG, "v2 signature");
    let len = u16::from_be_bytes([fixed[14], fixed[15]]) as usize;
    let body = c.read_exact_n(len).ok()?;
    let command = fixed[12];
    let zero: SocketAddr = "0.0.0.0:0".parse().ok()?;
    if command == 0x20 {
        return Some(Seen::V2 {
            command,
            src: zero,
            dst: zero,
        });
    }
    assert_eq!(fixed[13], 0x11, "TCP over IPv4");
    let ip =
        |at: usize| std::net::Ipv4Addr::new(body[at], body[at + 1], body[at + 2], body[at + 3]);
    let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
    Some(Seen::V2 {
        command,
        src: SocketAddr::new(ip(0).into(), port(8)),
        dst: SocketAddr::new(ip(4).into(), port(10)),
    })
}

/// An upstream that reads a PROXY header, then answers requests (keep-alive).
fn proxy_upstream(seen: Arc<Mutex<Vec<Option<Seen>>>>) -> RecordingUpstream {
    RecordingUpstream::start(move |c| {
        let header = read_proxy_header(c);
        let ok = header.is_some();
        seen.lock().expect("lock").push(header);
        if ok {
            echo_handler(c);
        }
    })
}

fn send_proxy_config(upstream: SocketAddr, version: &str, listener_extra: &str) -> String {
    format!(
        "[server]\nworkers = 1\n[[listener]]\nbind = \"127.0.0.1:0\"\n{listener_extra}\n\
         [[route]]\nbackend = \"app\"\n\
         [backend.app]\nservers = [{{ address = \"{upstream}\", send_proxy = \"{version}\" }}]\n"
    )
}

#[test]
fn send_proxy_starts_each_upstream_connection_with_the_clients_header_and_never_reuses_it() {
    for version in ["v1", "v2"] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let up = proxy_upstream(seen.clone());
        let tern = Tern::start(&send_proxy_config(up.addr, version, ""));
        let mut clients = Vec::new();
        for _ in 0..2 {
            let mut c = tern.connect();
            let local = c.stream.local_addr().expect("local");
            for _ in 0..2 {
                assert_eq!(c.roundtrip(&get("/p")).status, 200);
            }
            clients.push(local);
        }
        // Four requests, four connections: none reused, by its own client
        // or another.
        assert_eq!(up.request_count(), 4);
        assert_eq!(up.conn_count(), 4);
        let seen = seen.lock().expect("lock").clone();
        let expected: Vec<Option<Seen>> = clients
            .iter()
            .flat_map(|client| {
                let header = match version {
                    "v1" => Seen::V1(format!(
                        "PROXY TCP4 {} {} {} {}",
                        client.ip(),
                        tern.addr().ip(),
                        client.port(),
                        tern.addr().port()
                    )),
                    _ => Seen::V2 {
                        command: 0x21,
                        src: *client,
                        dst: tern.addr(),
                    },
                };
                [Some(header.clone()), Some(header)]
            })
            .collect();
        assert_eq!(seen, expected, "{version}");
    }
}

#[test]
fn send_proxy_passes_on_the_client_an_accepted_header_named() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let up = proxy_upstream(seen.clone());
    let tern = Tern::start(&send_proxy_config(up.addr, "v2", "accept_proxy = true"));
    through(
        &tern,
        &v2_tcp4([198, 51, 100, 3], 777, [10, 0, 0, 1], 8080),
        1,
    );
    let seen = seen.lock().expect("lock").clone();
    let Some(Some(Seen::V2 { src, .. })) = seen.first() else {
        panic!("{seen:?}");
    };
    assert_eq!(*src, "198.51.100.3:777".parse().expect("addr"));
}

/// An h2c request (prior knowledge) for `/`: the preface, empty SETTINGS,
/// and one HEADERS frame (HPACK: GET, http, `/`, authority `localhost`)
/// that ends the stream.
fn h2c_get() -> Vec<u8> {
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 0x04, 0, 0, 0, 0, 0]);
    let block = [&[0x82, 0x86, 0x84, 0x41, 9][..], b"localhost"].concat();
    bytes.extend_from_slice(&[0, 0, block.len() as u8, 0x01, 0x05, 0, 0, 0, 1]);
    bytes.extend_from_slice(&block);
    bytes
}

/// The header a `send_proxy = "v1"` server gets for one request sent after
/// `header` to a listener at `bind` with `accept_proxy` (and `extra`).
fn passed_on(bind: &str, extra: &str, header: &[u8], request: &[u8]) -> Vec<Option<Seen>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let up = proxy_upstream(seen.clone());
    let config = send_proxy_config(up.addr, "v1", &format!("accept_proxy = true\n{extra}"))
        .replacen("bind = \"127.0.0.1:0\"", &format!("bind = \"{bind}\""), 1);
    let tern = Tern::start(&config);
    let mut c = tern.connect();
    c.send(&[header, request].concat());
    assert!(
        up.wait_requests(1, Duration::from_secs(5)),
        "{bind}: no request"
    );
    let seen = seen.lock().expect("lock").clone();
    seen
}

/// HAProxy (`accept-proxy`, `send-proxy`) passes an accepted header's
/// source and destination on unchanged. tern put its own address where the
/// destination was, and on an IPv6 listener sent a TCP4 header as TCP6
/// with `::ffff:1.2.3.4` (while X-Forwarded-For said 1.2.3.4).
#[test]
fn send_proxy_passes_on_an_accepted_header_s_source_and_destination_as_received() {
    let tcp4 = "PROXY TCP4 1.2.3.4 5.6.7.8 1111 443";
    let tcp6 = "PROXY TCP6 2001:db8::7 2001:db8::1 1111 443";
    for (bind, line) in [
        ("127.0.0.1:0", tcp4),
        ("127.0.0.1:0", tcp6),
        ("[::1]:0", tcp4),
        ("[::1]:0", tcp6),
    ] {
        let header = format!("{line}\r\n");
        let seen = passed_on(bind, "", header.as_bytes(), &get("/p"));
        assert_eq!(seen, [Some(Seen::V1(line.into()))], "{bind}");
    }
    // A v2 header, and an HTTP/2 connection's stream.
    let v2 = v2_tcp4([198, 51, 100, 3], 777, [10, 0, 0, 1], 8080);
    let seen = passed_on("127.0.0.1:0", "", &v2, &get("/p"));
    let line = "PROXY TCP4 198.51.100.3 10.0.0.1 777 8080";
    assert_eq!(seen, [Some(Seen::V1(line.into()))], "v2");
    let header = format!("{tcp4}\r\n");
    let seen = passed_on("127.0.0.1:0", "http2 = true", header.as_bytes(), &h2c_get());
    assert_eq!(seen, [Some(Seen::V1(tcp4.into()))], "h2c");
}

#[test]
fn health_checks_of_a_send_proxy_server_start_with_a_local_header() {
    for (version, expected) in [
        ("v1", Seen::V1("PROXY UNKNOWN".into())),
        (
            "v2",
            Seen::V2 {
                command: 0x20,
                src: "0.0.0.0:0".parse().expect("a"),
                dst: "0.0.0.0:0".parse().expect("a"),
            },
        ),
    ] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let up = proxy_upstream(seen.clone());
        let config = send_proxy_config(up.addr, version, "")
            + "health_check = { path = \"/health\", interval = \"100ms\", timeout = \"1s\" }\n";
        let _tern = Tern::start(&config);
        assert!(
            up.wait_requests(2, Duration::from_secs(5)),
            "{version}: checks"
        );
        let seen = seen.lock().expect("lock").clone();
        assert!(
            seen.iter().all(|s| s.as_ref() == Some(&expected)),
            "{seen:?}"
        );
        assert!(up.requests().iter().all(|r| r.head.target() == "/health"));
    }
}

#[test]
fn bad_proxy_keys_are_refused_by_check_naming_the_key() {
    let check = |text: &str| {
        let f = TempFile::new("pp.toml", text);
        let out = run_tern(&["--check", "--config", &f.path_str()]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let listener = |extra: &str| {
        format!("[[listener]]\nbind = \"127.0.0.1:0\"\n{extra}\n[[route]]\nrespond = {{ status = 200 }}\n")
    };
    let cases = [
        (
            listener("proxy_from = [\"10.0.0.0/8\"]"),
            "listener[0].proxy_from",
        ),
        (
            listener("accept_proxy = true\nproxy_from = [\"10.0.0.0/33\"]"),
            "listener[0].proxy_from[0]",
        ),
        (
            listener("accept_proxy = true\nproxy_from = []"),
            "listener[0].proxy_from",
        ),
        (
            listener("accept_proxy = \"yes\""),
            "listener[0].accept_proxy",
        ),
        (
            send_proxy_config("127.0.0.1:9".parse().expect("a"), "v3", ""),
            "backend.app.servers",
        ),
    ];
    for (text, key) in &cases {
        let (ok, err) = check(text);
        assert!(!ok, "accepted:\n{text}");
        assert!(
            err.contains(key) && err.contains("pp.toml"),
            "{key} not named in {err}"
        );
    }
    let (ok, err) = check(&listener(
        "accept_proxy = true\nproxy_from = [\"10.0.0.0/8\", \"::1\"]",
    ));
    assert!(ok, "{err}");
}

#[test]
fn accept_proxy_and_send_proxy_follow_a_reload() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let up = proxy_upstream(seen.clone());
    let plain = RecordingUpstream::echo();
    let admin = "\n[admin]\nbind = \"127.0.0.1:0\"\n";
    let before = format!(
        "[server]\nworkers = 2\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\nservers = [\"{}\"]\n{admin}",
        plain.addr
    );
    let tern = Tern::start(&before);
    let header = b"PROXY TCP4 198.51.100.50 127.0.0.1 5000 80\r\n";
    let mut bytes = header.to_vec();
    bytes.extend_from_slice(&get("/"));
    let (answer, _) = raw_request(tern.addr(), &bytes);
    assert_eq!(status_of(&answer), Some(400));
    let after = send_proxy_config(up.addr, "v1", "accept_proxy = true")
        .replace("workers = 1", "workers = 2")
        + admin;
    std::fs::write(tern.config_path(), after).expect("write");
    let admin_addr = tern.admin_addr();
    let post = b"POST /reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n";
    let (answer, _) = raw_request(admin_addr, post);
    assert!(contains(&answer, b"\"reloaded\":true"), "{}", show(&answer));
    let got = through(&tern, header, 1);
    assert_eq!(got[0].status, 200);
    assert_eq!(forwarded_for(&up), ["198.51.100.50"]);
    let seen = seen.lock().expect("lock").clone();
    assert!(
        matches!(seen.as_slice(), [Some(Seen::V1(line))] if line.starts_with("PROXY TCP4 198.51.100.50 ")),
        "{seen:?}"
    );
}
