//! TLS termination: a real rustls client (and curl) against tern with
//! certificates the tests make themselves.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::tls_client::*;
use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CipherSuite, ClientConfig, ClientConnection, HandshakeKind, SignatureScheme};

fn tls_config(upstream: std::net::SocketAddr, certs: &[&TestCert]) -> String {
    let entries: Vec<String> = certs
        .iter()
        .map(|c| {
            format!(
                "{{ cert = \"{}\", key = \"{}\" }}",
                c.cert_file.path_str(),
                c.key_file.path_str()
            )
        })
        .collect();
    format!(
        "[server]\nworkers = 1\n[server.timeouts]\nclient_header = \"2s\"\n\
         [[listener]]\nname = \"secure\"\nbind = \"127.0.0.1:0\"\ntls = {{ certificates = [{}] }}\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\nservers = [\"{upstream}\"]\n",
        entries.join(", ")
    )
}

fn connect(tern: &Tern, config: &Arc<ClientConfig>, name: &str) -> Tls {
    connect_tls(tern.addr(), config, name)
}

fn roundtrip(tls: &mut Tls, request: &[u8]) -> (String, Vec<u8>) {
    tls_roundtrip(tls, request)
}

fn peer_cert(tls: &Tls) -> CertificateDer<'static> {
    tls.conn.peer_certificates().expect("server certificate")[0]
        .clone()
        .into_owned()
}

#[test]
fn https_is_proxied_as_http_with_forwarded_proto_https() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("site", &["site.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let mut tls = connect(&tern, &client_config(&[&cert]), "site.test");
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (head, body) = roundtrip(&mut tls, b"GET /hello HTTP/1.1\r\nHost: site.test\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"/hello");
    let seen = up.requests();
    assert_eq!(
        seen[0].head.header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    assert_eq!(seen[0].head.header("host").as_deref(), Some("site.test"));
    // The upstream got plain HTTP: the request line is readable bytes.
    assert!(up.conn_bytes(0).starts_with(b"GET /hello HTTP/1.1\r\n"));
    // Keep-alive works over TLS.
    let (_, body) = roundtrip(&mut tls, b"GET /again HTTP/1.1\r\nHost: site.test\r\n\r\n");
    assert_eq!(body, b"/again");
}

#[test]
fn sni_picks_exact_then_wildcard_then_the_first_certificate() {
    let up = RecordingUpstream::echo();
    let first = make_cert("first", &["first.test"]);
    let exact = make_cert("exact", &["exact.test"]);
    let wild = make_cert("wild", &["*.wild.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&first, &exact, &wild]));
    // Trust all three; then check which one each name got.
    let config = client_config(&[&first, &exact, &wild]);
    assert_eq!(peer_cert(&connect(&tern, &config, "exact.test")), exact.der);
    assert_eq!(peer_cert(&connect(&tern, &config, "a.wild.test")), wild.der);
    // Clients that send no SNI name (an IP address) get the first one.
    let no_sni = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let tcp = TcpStream::connect(tern.addr()).expect("connect");
    let mut conn = ClientConnection::new(insecure_config(), no_sni).expect("client");
    let mut sock = tcp;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("handshake");
    }
    assert_eq!(conn.peer_certificates().expect("cert")[0], first.der);
}

/// TLS 1.3 with every suite, over a client whose signature_algorithms are
/// `schemes` only (what it can verify).
fn verifying_only(schemes: &[SignatureScheme]) -> Arc<ClientConfig> {
    let provider = rustls::crypto::ring::default_provider();
    insecure_config_with(provider, &[&rustls::version::TLS13], schemes)
}

/// TLS 1.2 offering only `suites`, over a client that can verify every
/// signature scheme: the suites decide which key type can be used.
fn tls12_offering(suites: &[CipherSuite]) -> Arc<ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .retain(|suite| suites.contains(&suite.suite()));
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    insecure_config_with(provider, &[&rustls::version::TLS12], &schemes)
}

const RSA_ONLY: &[SignatureScheme] = &[
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PKCS1_SHA256,
];

/// nginx serves two `ssl_certificate`s for one name, ECDSA and RSA, and
/// picks by what the client can verify; tern kept only the first, and a
/// client that can only verify RSA failed its handshake (alert 40).
#[test]
fn an_ecdsa_and_an_rsa_certificate_for_one_name_go_each_to_a_client_that_can_use_it() {
    let up = RecordingUpstream::echo();
    let ec = make_cert("dual-ec", &["dual.test"]);
    let rsa = make_rsa_cert("dual-rsa", &["dual.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&ec, &rsa]));
    let ecdsa_only = &[SignatureScheme::ECDSA_NISTP256_SHA256];
    let got = |config| peer_cert(&connect(&tern, &config, "dual.test"));
    assert_eq!(got(verifying_only(RSA_ONLY)), rsa.der, "TLS 1.3, RSA only");
    assert_eq!(
        got(verifying_only(ecdsa_only)),
        ec.der,
        "TLS 1.3, ECDSA only"
    );
    let rsa_suites = [CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
    let ecdsa_suites = [CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    assert_eq!(got(tls12_offering(&rsa_suites)), rsa.der, "ECDHE-RSA");
    assert_eq!(got(tls12_offering(&ecdsa_suites)), ec.der, "ECDHE-ECDSA");
    // The red-team probe's own client: OpenSSL with ECDHE-RSA only.
    let args = ["-servername", "dual.test", "-tls1_2"];
    let rsa_cipher = ["-cipher", "ECDHE-RSA-AES128-GCM-SHA256"];
    let openssl = openssl_s_client(tern.addr(), &[&args[..], &rsa_cipher].concat());
    assert_eq!(openssl.map(|pem| pem.trim().to_owned()), Ok(cert_pem(&rsa)));
}

/// A client that can use either key type gets the first in config order.
#[test]
fn a_client_that_can_verify_both_key_types_gets_the_first_configured() {
    let up = RecordingUpstream::echo();
    let ec = make_cert("order-ec", &["order.test"]);
    let rsa = make_rsa_cert("order-rsa", &["order.test"]);
    let everything = insecure_config();
    let tern = Tern::start(&tls_config(up.addr, &[&ec, &rsa]));
    assert_eq!(
        peer_cert(&connect(&tern, &everything, "order.test")),
        ec.der
    );
    drop(tern);
    let tern = Tern::start(&tls_config(up.addr, &[&rsa, &ec]));
    assert_eq!(
        peer_cert(&connect(&tern, &everything, "order.test")),
        rsa.der
    );
}

/// The default certificate (no SNI, or an unknown name) is the first one;
/// a client that can't use its key gets the other key type's certificate
/// for the same name instead of a failed handshake.
#[test]
fn a_client_without_sni_that_verifies_only_rsa_gets_the_first_names_rsa_certificate() {
    let up = RecordingUpstream::echo();
    let ec = make_cert("default-ec", &["default.test"]);
    let other = make_rsa_cert("default-other", &["other.test"]);
    let rsa = make_rsa_cert("default-rsa", &["default.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&ec, &other, &rsa]));
    let no_sni = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let mut sock = TcpStream::connect(tern.addr()).expect("connect");
    let mut conn = ClientConnection::new(verifying_only(RSA_ONLY), no_sni).expect("client");
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("handshake");
    }
    assert_eq!(conn.peer_certificates().expect("cert")[0], rsa.der);
    let unknown = connect(&tern, &verifying_only(RSA_ONLY), "unknown.test");
    assert_eq!(peer_cert(&unknown), rsa.der);
}

/// Two certificates of one key type for one name: the earlier is served,
/// as before, but no longer silently: `--check` and the error log say
/// which certificate lost which name to which.
#[test]
fn two_certificates_of_one_key_type_for_a_name_keep_the_first_with_a_warning() {
    let up = RecordingUpstream::echo();
    let first = make_cert("dup-first", &["dup.test", "only-first.test"]);
    let second = make_cert("dup-second", &["dup.test", "only-second.test"]);
    let config = tls_config(up.addr, &[&first, &second]);
    let said = accepted(&config);
    let warning = said
        .lines()
        .find(|line| line.contains("listener[0].tls.certificates[1]"))
        .unwrap_or_else(|| panic!("no warning for certificates[1]: {said}"));
    for part in [
        "warning",
        &second.cert_file.path_str(),
        "\"dup.test\"",
        "ECDSA",
        "certificates[0]",
        &first.cert_file.path_str(),
    ] {
        assert!(warning.contains(part), "{part:?} not in {warning}");
    }
    assert!(!warning.contains("only-second.test"), "{warning}");
    let tern = Tern::start(&config);
    assert!(tern.has_said("listener[0].tls.certificates[1]"));
    let everything = insecure_config();
    assert_eq!(
        peer_cert(&connect(&tern, &everything, "dup.test")),
        first.der
    );
    let own = connect(&tern, &everything, "only-second.test");
    assert_eq!(peer_cert(&own), second.der);
}

/// `b.test.` is the fully qualified `b.test`: tern's Host routing and
/// nginx take it so, and so does the certificate choice now (it gave the
/// default certificate). rustls clients drop the dot; OpenSSL sends it.
#[test]
fn a_server_name_with_a_trailing_dot_gets_that_names_certificate() {
    let up = RecordingUpstream::echo();
    let first = make_cert("dot-first", &["a.test"]);
    let named = make_cert("dot-named", &["b.test"]);
    let wild = make_cert("dot-wild", &["*.wild.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&first, &named, &wild]));
    let got = |name: &str| {
        let pem = openssl_s_client(tern.addr(), &["-servername", name]);
        pem.map(|pem| pem.trim().to_owned())
    };
    assert_eq!(got("b.test."), Ok(cert_pem(&named)));
    assert_eq!(got("B.Test."), Ok(cert_pem(&named)));
    assert_eq!(got("x.wild.test."), Ok(cert_pem(&wild)));
}

#[test]
fn second_connection_resumes_the_session() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("resume", &["resume.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let config = client_config(&[&cert]);
    let mut first = connect(&tern, &config, "resume.test");
    // TLS 1.3 tickets arrive after the handshake: one exchange collects them.
    roundtrip(&mut first, b"GET / HTTP/1.1\r\nHost: resume.test\r\n\r\n");
    assert_eq!(first.conn.handshake_kind(), Some(HandshakeKind::Full));
    let second = connect(&tern, &config, "resume.test");
    assert_eq!(second.conn.handshake_kind(), Some(HandshakeKind::Resumed));
}

/// A client session store that counts the TLS 1.3 tickets it is given.
#[derive(Debug)]
struct CountingStore {
    inner: rustls::client::ClientSessionMemoryCache,
    tickets: std::sync::atomic::AtomicUsize,
}

impl rustls::client::ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(name, group)
    }
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(name)
    }
    fn set_tls12_session(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(name, value)
    }
    fn tls12_session(
        &self,
        name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(name)
    }
    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.inner.remove_tls12_session(name)
    }
    fn insert_tls13_ticket(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        self.tickets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.insert_tls13_ticket(name, value)
    }
    fn take_tls13_ticket(
        &self,
        name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(name)
    }
}

#[test]
fn each_connection_gets_one_ticket_and_the_next_resumes_with_it() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("tickets", &["tickets.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let store = Arc::new(CountingStore {
        inner: rustls::client::ClientSessionMemoryCache::new(8),
        tickets: Default::default(),
    });
    let mut config = (*client_config(&[&cert])).clone();
    config.resumption = rustls::client::Resumption::store(store.clone());
    let config = Arc::new(config);
    let request = b"GET / HTTP/1.1\r\nHost: tickets.test\r\n\r\n";
    for (n, kind) in [
        HandshakeKind::Full,
        HandshakeKind::Resumed,
        HandshakeKind::Resumed,
    ]
    .into_iter()
    .enumerate()
    {
        let mut tls = connect(&tern, &config, "tickets.test");
        // The tickets follow the handshake; one exchange collects them.
        roundtrip(&mut tls, request);
        assert_eq!(tls.conn.handshake_kind(), Some(kind), "connection {n}");
        let tickets = store.tickets.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(tickets, n + 1, "tickets after connection {n}");
    }
}

/// A client offering exactly `suites`, in this order, over `versions`.
fn client_offering(
    cert: &TestCert,
    suites: &[rustls::CipherSuite],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = suites
        .iter()
        .filter_map(|want| {
            let all = rustls::crypto::ring::ALL_CIPHER_SUITES.iter();
            all.copied().find(|suite| suite.suite() == *want)
        })
        .collect();
    client_config_with(&[cert], provider, versions)
}

#[test]
fn aes_128_is_chosen_unless_the_client_lists_chacha_first() {
    use rustls::CipherSuite::*;
    let up = RecordingUpstream::echo();
    let cert = make_cert("suites", &["suites.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let tls13 = &[&rustls::version::TLS13][..];
    let tls12 = &[&rustls::version::TLS12][..];
    let cases = [
        // OpenSSL's order (curl, wrk, Python): AES-256 first.
        (
            vec![
                TLS13_AES_256_GCM_SHA384,
                TLS13_CHACHA20_POLY1305_SHA256,
                TLS13_AES_128_GCM_SHA256,
            ],
            tls13,
            TLS13_AES_128_GCM_SHA256,
        ),
        // A client without AES instructions lists ChaCha20 first.
        (
            vec![TLS13_CHACHA20_POLY1305_SHA256, TLS13_AES_128_GCM_SHA256],
            tls13,
            TLS13_CHACHA20_POLY1305_SHA256,
        ),
        (
            vec![
                TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            ],
            tls12,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        // The client's only suite is taken.
        (
            vec![TLS13_AES_256_GCM_SHA384],
            tls13,
            TLS13_AES_256_GCM_SHA384,
        ),
    ];
    for (offered, versions, chosen) in cases {
        let config = client_offering(&cert, &offered, versions);
        let mut tls = connect(&tern, &config, "suites.test");
        let suite = tls.conn.negotiated_cipher_suite().expect("suite").suite();
        assert_eq!(suite, chosen, "offered {offered:?}");
        let (head, _) = roundtrip(&mut tls, b"GET / HTTP/1.1\r\nHost: suites.test\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
}

#[test]
fn chunked_upload_over_tls_reaches_the_upstream_whole() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("upload", &["upload.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let mut tls = connect(&tern, &client_config(&[&cert]), "upload.test");
    let data = pattern(200_000, 7);
    let mut request =
        b"POST /up HTTP/1.1\r\nHost: upload.test\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in data.chunks(30_000) {
        request.extend_from_slice(format!("{:x};ext=1\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (head, body) = roundtrip(&mut tls, &request);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, data, "the echo of the decoded body");
    assert_eq!(up.requests()[0].body, data);
}

#[test]
fn websocket_tunnel_works_over_tls() {
    let up = RecordingUpstream::start(|c| {
        let Some(_) = c.read_head() else { return };
        c.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        // Echo raw bytes until the client closes.
        let mut buf = [0u8; 4096];
        loop {
            match c.conn.stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if c.conn.stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let cert = make_cert("ws", &["ws.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let mut tls = connect(&tern, &client_config(&[&cert]), "ws.test");
    tls.write_all(
        b"GET /ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .expect("upgrade request");
    let head = read_tls_head(&mut tls);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"; // masked "Hello"
    tls.write_all(frame).expect("frame");
    let mut echoed = vec![0u8; frame.len()];
    tls.read_exact(&mut echoed).expect("echo");
    assert_eq!(&echoed[..], &frame[..]);
}

#[test]
fn plain_http_on_a_tls_listener_gets_400_and_is_closed() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("plain", &["plain.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let mut c = tern.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n");
    let rest = c
        .expect_close(Duration::from_secs(5))
        .expect("tern closes the connection");
    assert!(rest.starts_with(b"HTTP/1.1 400"), "{}", show(&rest));
    assert_eq!(up.total_bytes(), 0);
}

#[test]
fn tls_on_a_plain_listener_gets_400_and_is_closed() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    // The start of a TLS ClientHello record.
    c.send(&[
        0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, b'\r', b'\n', b'\r',
        b'\n',
    ]);
    let rest = c
        .expect_close(Duration::from_secs(5))
        .expect("tern closes the connection");
    assert!(rest.starts_with(b"HTTP/1.1 400"), "{}", show(&rest));
    assert_eq!(up.total_bytes(), 0);
}

#[test]
fn a_malformed_client_hello_gets_a_fatal_alert_and_is_closed() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("alert", &["alert.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let mut tcp = TcpStream::connect(tern.addr()).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // A handshake record holding a ClientHello with an empty body.
    let hello = [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00];
    tcp.write_all(&hello).expect("write");
    let mut reply = Vec::new();
    tcp.read_to_end(&mut reply).expect("closed after the alert");
    // An alert record (type 21) whose level is fatal (2).
    assert_eq!(reply.len(), 7, "{reply:?}");
    assert_eq!((reply[0], reply[5]), (0x15, 2), "{reply:?}");
}

#[test]
fn an_oversized_first_record_is_refused_and_the_worker_serves_on() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("oversized", &["oversized.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let mut tcp = TcpStream::connect(tern.addr()).expect("connect");
    // A handshake record whose length field says 65,535 bytes (TLS allows
    // 16 KiB and some), followed by more than rustls buffers for a record.
    let mut record = vec![0x16, 0x03, 0x01, 0xff, 0xff];
    record.resize(5 + 40_000, 0);
    let _ = tcp.write_all(&record);
    // And a hello in two full-size records, the first sent in part:
    // rustls holds one record at most until it has taken the first.
    let mut split = TcpStream::connect(tern.addr()).expect("connect");
    let mut records = Vec::new();
    for _ in 0..2 {
        records.extend_from_slice(&[0x16, 0x03, 0x01, 0x40, 0x00]);
        records.resize(records.len() + 0x4000, 0x01);
    }
    // Its message: a ClientHello of 32 KiB, longer than one record.
    records[5..9].copy_from_slice(&[0x01, 0x00, 0x80, 0x00]);
    let _ = split.write_all(&records[..10_000]);
    std::thread::sleep(Duration::from_millis(100));
    let _ = split.write_all(&records[10_000..]);
    // Both are refused and closed (reset, their bytes unread), not left
    // hanging.
    for mut refused in [tcp, split] {
        refused
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut reply = Vec::new();
        match refused.read_to_end(&mut reply) {
            Ok(_) => {}
            Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset),
        }
    }
    // The one worker still handshakes and answers.
    let mut tls = connect(&tern, &client_config(&[&cert]), "oversized.test");
    let (_, body) = roundtrip(
        &mut tls,
        b"GET /after HTTP/1.1\r\nHost: oversized.test\r\n\r\n",
    );
    assert_eq!(body, b"/after");
}

#[test]
fn a_failed_handshake_does_not_disturb_other_connections() {
    let up = RecordingUpstream::echo();
    let cert = make_cert("robust", &["robust.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let config = client_config(&[&cert]);
    let mut good = connect(&tern, &config, "robust.test");
    // A client that trusts nothing fails its handshake; another sends junk.
    let tcp = TcpStream::connect(tern.addr()).expect("connect");
    let name = ServerName::try_from("robust.test").expect("name");
    let mut distrustful = ClientConnection::new(client_config(&[]), name).expect("client");
    let mut sock = tcp;
    let mut failed = false;
    for _ in 0..10 {
        if distrustful.complete_io(&mut sock).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed, "a client without the trust anchor must fail");
    let mut junk = TcpStream::connect(tern.addr()).expect("connect");
    let _ = junk.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0, 0]);
    let (_, body) = roundtrip(
        &mut good,
        b"GET /still HTTP/1.1\r\nHost: robust.test\r\n\r\n",
    );
    assert_eq!(body, b"/still");
}

#[test]
fn curl_with_cacert_gets_the_proxied_answer() {
    if Command::new("curl").arg("--version").output().is_err() {
        panic!("curl is needed for this test (.ci/run installs it)");
    }
    let up = RecordingUpstream::echo();
    let cert = make_cert("curl", &["curl.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let port = tern.addr().port();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "--cacert",
            &cert.cert_file.path_str(),
        ])
        .args(["--resolve", &format!("curl.test:{port}:127.0.0.1")])
        .arg(format!("https://curl.test:{port}/via-curl"))
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/via-curl");
}

/// `tern --check` on `config`, which must pass: what it printed on stderr
/// (its warnings).
fn accepted(config: &str) -> String {
    let file = TempFile::new("tls.toml", config);
    let out = run_tern(&["--check", "--config", &file.path_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "the config should pass: {stderr}");
    stderr
}

fn refused(config: &str) -> String {
    let file = TempFile::new("tls.toml", config);
    let out = run_tern(&["--check", "--config", &file.path_str()]);
    assert!(!out.status.success(), "the config should be refused");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn missing_certificate_file_is_named() {
    let cert = make_cert("missing", &["m.test"]);
    let config = tls_config(dead_addr(), &[&cert])
        .replace(&cert.cert_file.path_str(), "/nonexistent/site.crt");
    let err = refused(&config);
    assert!(err.contains("/nonexistent/site.crt"), "{err}");
    assert!(err.contains("listener[0].tls.certificates"), "{err}");
}

/// A FIFO named for a key blocked the check (and a reload: the main thread,
/// and every signal with it) until something wrote to it; `/dev/zero` named
/// for a certificate was read until memory ran out. Both are refused at
/// once, named.
#[test]
fn a_fifo_or_a_device_named_for_a_certificate_or_key_is_refused_at_once() {
    let cert = make_cert("fifo", &["f.test"]);
    // Its reading end held by the test: opening it to read still waits
    // for a writer, and none comes.
    let pipe = fifo::Fifo::new("tls-fifo");
    let fifo = pipe.path.display().to_string();
    let config = tls_config(dead_addr(), &[&cert]).replace(&cert.key_file.path_str(), &fifo);
    let err = refused(&config);
    assert!(err.contains(&fifo), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    let config = tls_config(dead_addr(), &[&cert]).replace(&cert.cert_file.path_str(), "/dev/zero");
    let err = refused(&config);
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
}

#[test]
fn key_that_does_not_match_is_named() {
    let one = make_cert("one", &["one.test"]);
    let other = make_cert("other", &["other.test"]);
    let config = tls_config(dead_addr(), &[&one])
        .replace(&one.key_file.path_str(), &other.key_file.path_str());
    let err = refused(&config);
    assert!(err.contains(&other.key_file.path_str()), "{err}");
    assert!(err.contains("does not fit"), "{err}");
}

/// A self-signed certificate for `name`, valid from January 1st of `from`
/// to January 1st of `to`.
fn dated_cert(tag: &str, name: &str, from: i32, to: i32) -> TestCert {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(to, 1, 1);
    let cert = params.self_signed(&key).expect("certificate");
    TestCert {
        der: cert.der().clone(),
        cert_file: TempFile::new(&format!("{tag}.crt"), &cert.pem()),
        key_file: TempFile::new(&format!("{tag}.key"), &key.serialize_pem()),
    }
}

/// The line of `said` that names `file`, which must be a warning.
fn warning_naming(said: &str, file: &TestCert) -> String {
    let path = file.cert_file.path_str();
    let line = said.lines().find(|line| line.contains(&path));
    let line = line.unwrap_or_else(|| panic!("nothing names {path}: {said}"));
    assert!(line.contains("warn"), "{line}");
    line.to_owned()
}

/// nginx and HAProxy load an expired certificate; tern refused it, at
/// start and on every reload, while the running process served it anyway.
/// Now `--check` passes and warns, naming the file and the dates.
#[test]
fn an_expired_or_not_yet_valid_certificate_passes_check_with_a_warning_naming_its_dates() {
    let old = dated_cert("old", "old.test", 2000, 2001);
    let early = dated_cert("early", "early.test", 2090, 2091);
    let said = accepted(&tls_config(dead_addr(), &[&old, &early]));
    let expired = warning_naming(&said, &old);
    assert!(
        expired.contains("listener[0].tls.certificates[0]"),
        "{expired}"
    );
    assert!(expired.contains("has expired"), "{expired}");
    assert!(
        expired.contains("notAfter Jan  1 00:00:00 2001"),
        "{expired}"
    );
    assert!(
        expired.contains("notBefore Jan  1 00:00:00 2000"),
        "{expired}"
    );
    let not_yet = warning_naming(&said, &early);
    assert!(
        not_yet.contains("listener[0].tls.certificates[1]"),
        "{not_yet}"
    );
    assert!(not_yet.contains("not valid yet"), "{not_yet}");
    assert!(
        not_yet.contains("notBefore Jan  1 00:00:00 2090"),
        "{not_yet}"
    );
}

#[test]
fn tern_starts_with_an_expired_certificate_serves_it_and_logs_a_warning() {
    let up = RecordingUpstream::echo();
    let old = dated_cert("old-start", "old.test", 2000, 2001);
    let tern = Tern::start(&tls_config(up.addr, &[&old]));
    let logged = tern.said(&old.cert_file.path_str()).join("\n");
    assert!(
        logged.contains("warn") && logged.contains("has expired"),
        "{logged}"
    );
    let mut tls = connect(&tern, &insecure_config(), "old.test");
    assert_eq!(peer_cert(&tls), old.der);
    let (_, body) = roundtrip(&mut tls, b"GET /old HTTP/1.1\r\nHost: old.test\r\n\r\n");
    assert_eq!(body, b"/old");
}

/// Once a served certificate expired, every reload was refused, even one
/// that changes only where a route goes. Here the files tern started with
/// are replaced by an expired certificate, as time would have it expire.
#[test]
fn a_reload_after_the_certificate_expired_is_accepted_with_a_warning() {
    let (before, after) = (RecordingUpstream::echo(), RecordingUpstream::echo());
    let served = make_cert("expiring", &["old.test"]);
    let tern = Tern::start(&tls_config(before.addr, &[&served]));
    let path = served.cert_file.path_str();
    assert!(tern.said(&path).is_empty(), "{:#?}", tern.stderr());
    let old = dated_cert("old-reload", "old.test", 2000, 2001);
    for (from, to) in [
        (&old.cert_file, &served.cert_file),
        (&old.key_file, &served.key_file),
    ] {
        std::fs::copy(&from.path, &to.path).expect("replace the file");
    }
    std::fs::write(tern.config_path(), tls_config(after.addr, &[&served])).expect("rewrite");
    tern.signal("HUP");
    let answered = || tern.has_said("reloaded:") || tern.has_said("reload refused");
    assert!(wait_until(Duration::from_secs(10), answered), "no reload");
    assert!(tern.has_said("reloaded:"), "{:#?}", tern.stderr());
    let warned = tern.said(&path).join("\n");
    assert!(
        warned.contains("warn") && warned.contains("has expired"),
        "{warned}"
    );
    let mut tls = connect(&tern, &insecure_config(), "old.test");
    assert_eq!(peer_cert(&tls), old.der);
    let (_, body) = roundtrip(&mut tls, b"GET /new HTTP/1.1\r\nHost: old.test\r\n\r\n");
    assert_eq!(body, b"/new");
    assert_eq!(
        after.requests().len(),
        1,
        "the reloaded route goes to the new server"
    );
}

fn tls_backend_config(upstream: std::net::SocketAddr, ca: &TestCert, extra: &str) -> String {
    format!(
        "[server]\nworkers = 1\n[[listener]]\nbind = \"127.0.0.1:0\"\n[[route]]\nbackend = \"secure\"\n\
         [backend.secure]\nservers = [\"{upstream}\"]\ntls = true\ntls_ca = \"{}\"\n{extra}",
        ca.cert_file.path_str()
    )
}

#[test]
fn a_tls_backend_is_reached_over_verified_tls_with_sni_and_pooled() {
    let cert = make_cert("backend", &["backend.test"]);
    let up = TlsUpstream::start(&cert);
    let config = tls_backend_config(up.addr, &cert, "tls_server_name = \"backend.test\"\n");
    let tern = Tern::start(&config);
    let mut c = tern.connect();
    for path in ["/one", "/two"] {
        let r = c.roundtrip(format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200, "{}", show(&r.raw));
        assert_eq!(r.body_str(), path);
    }
    assert_eq!(
        up.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one pooled TLS connection"
    );
    let names = up.names.lock().expect("names").clone();
    assert_eq!(names, vec![Some("backend.test".to_string())]);
}

#[test]
fn an_untrusted_backend_certificate_gets_502() {
    let cert = make_cert("impostor", &["backend.test"]);
    let trusted = make_cert("trusted", &["backend.test"]);
    let up = TlsUpstream::start(&cert);
    let tern = Tern::start(&tls_backend_config(
        up.addr,
        &trusted,
        "tls_server_name = \"backend.test\"\n",
    ));
    let r = tern
        .connect()
        .roundtrip(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 502, "{}", show(&r.raw));
}

#[test]
fn a_backend_name_not_in_the_certificate_gets_502() {
    let cert = make_cert("named", &["backend.test"]);
    let up = TlsUpstream::start(&cert);
    // Without tls_server_name the name checked is 127.0.0.1, which the
    // certificate doesn't cover.
    let tern = Tern::start(&tls_backend_config(up.addr, &cert, ""));
    let r = tern
        .connect()
        .roundtrip(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 502, "{}", show(&r.raw));
}

/// A large static file over TLS goes through the encrypting path, not
/// straight from the page cache to the socket.
#[test]
fn a_large_static_file_over_tls_arrives_intact() {
    let dir = TempDir::new("tls-static");
    let root = &dir.path;
    let data = pattern(1024 * 1024 + 17, 3);
    std::fs::write(root.join("big.bin"), &data).expect("file");
    let cert = make_cert("files", &["files.test"]);
    let config = format!(
        "[server]\nworkers = 1\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
         tls = {{ certificates = [{{ cert = \"{}\", key = \"{}\" }}] }}\n\
         [[route]]\nstatic = {{ root = \"{}\" }}\n",
        cert.cert_file.path_str(),
        cert.key_file.path_str(),
        root.display()
    );
    let tern = Tern::start(&config);
    let mut tls = connect(&tern, &client_config(&[&cert]), "files.test");
    let (head, body) = roundtrip(
        &mut tls,
        b"GET /big.bin HTTP/1.1\r\nHost: files.test\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        body == data,
        "the file arrived changed ({} bytes)",
        body.len()
    );
}

/// A big record then many small ones, sent in one burst: the small
/// records' plaintext lands in rustls right after the big record's 16 KiB.
/// Fed all at once, rustls refuses the rest ("received plaintext buffer
/// full") and the connection died mid-pipeline; fed a batch at a time,
/// with plaintext drained in between, every request is answered.
#[test]
fn a_big_record_then_many_small_ones_in_one_burst_are_all_served() {
    const SMALL: usize = 200;
    let up = RecordingUpstream::echo();
    let cert = make_cert("site", &["site.test"]);
    let tern = Tern::start(&tls_config(up.addr, &[&cert]));
    let mut tls = connect(&tern, &client_config(&[&cert]), "site.test");
    // One full record: a POST whose head and body are 16 KiB together.
    let head_len = "POST /big HTTP/1.1\r\nHost: site.test\r\nContent-Length: 00000\r\n\r\n".len();
    let body_len = 16 * 1024 - head_len;
    let mut first =
        format!("POST /big HTTP/1.1\r\nHost: site.test\r\nContent-Length: {body_len:05}\r\n\r\n")
            .into_bytes();
    first.resize(16 * 1024, b'x');
    tls.conn.writer().write_all(&first).unwrap();
    // Then each pipelined request in a record of its own.
    for i in 0..SMALL {
        let request = format!("GET /p{i} HTTP/1.1\r\nHost: site.test\r\n\r\n");
        tls.conn.writer().write_all(request.as_bytes()).unwrap();
    }
    let mut burst = Vec::new();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut burst).unwrap();
    }
    tls.sock.write_all(&burst).unwrap();
    let mut answered = 0;
    for _ in 0..=SMALL {
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            if tls.read_exact(&mut byte).is_err() {
                break;
            }
            raw.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&raw).into_owned();
        let Some(length) = head_value(&head, "content-length").and_then(|v| v.parse().ok()) else {
            break;
        };
        let mut body = vec![0u8; length];
        if tls.read_exact(&mut body).is_err() {
            break;
        }
        answered += 1;
    }
    assert_eq!(answered, SMALL + 1, "responses before the connection ended");
}
