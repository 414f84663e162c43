//! ACME: tern orders, serves, stores and renews certificates from a real
//! ACME server, Pebble (Let's Encrypt's test CA), started on loopback and
//! validating against tern's own ports (tests/common/pebble.rs).

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::free_port;
use common::pebble::{https_cert, Pebble, PebbleSetup};
use common::tls_client::*;
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

const NAME: &str = "site.test";
/// The first order, validation included, takes well under a second with
/// PEBBLE_VA_NOSLEEP; this bounds a CI machine under load.
const ISSUE_WAIT: Duration = Duration::from_secs(30);

/// Ports chosen before tern starts, since Pebble must know them.
struct Ports {
    http: u16,
    tls: u16,
}

impl Ports {
    fn free() -> Ports {
        Ports {
            http: free_port(),
            tls: free_port(),
        }
    }
}

/// A storage directory that does not exist yet (tern creates it).
struct Storage {
    _marker: TempFile,
    path: std::path::PathBuf,
}

impl Storage {
    fn new() -> Storage {
        let marker = TempFile::new("marker", "");
        let path = marker.path.with_file_name("acme");
        Storage {
            _marker: marker,
            path,
        }
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// tern with a TLS listener whose certificate comes from `directory`,
/// and (with `plain`) a plain listener whose only route redirects to
/// https: the HTTP-01 challenge must be answered before routes.
fn config(ports: &Ports, acme: &Acme, storage: &Storage, extra: &str) -> String {
    let plain = match acme.plain {
        true => format!(
            "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:{}\"\n\
             [[route]]\nlistener = [\"web\"]\nredirect = {{ scheme = \"https\", status = 301 }}\n",
            ports.http
        ),
        false => String::new(),
    };
    format!(
        "[server]\nworkers = 2\n\
         [admin]\nbind = \"127.0.0.1:0\"\n\
         {plain}\
         [[listener]]\nname = \"websecure\"\nbind = \"127.0.0.1:{}\"\n\
         tls = {{ {}acme = {{ domains = [\"{NAME}\"], contact = \"mailto:ops@site.test\", \
         directory = \"{}\", directory_ca = \"{}\", storage = \"{}\"{extra} }} }}\n\
         [[route]]\nrespond = {{ status = 200, body = \"hello over tls\\n\" }}\n",
        ports.tls,
        acme.files,
        acme.directory,
        acme.ca,
        storage.path.display()
    )
}

/// Where tern orders from.
struct Acme {
    directory: String,
    /// Trusted for the directory's HTTPS.
    ca: String,
    /// tern has a plain listener.
    plain: bool,
    /// `certificates = [...], ` from files, beside the ACME one.
    files: String,
}

impl Acme {
    fn of(pebble: &Pebble, plain: bool) -> Acme {
        Acme {
            directory: pebble.directory(),
            ca: pebble.https_cert.cert_file.path_str(),
            plain,
            files: String::new(),
        }
    }
}

/// Retries after a failed order come after 1 s, not a minute.
fn fast_retries() {
    std::env::set_var("TERN_ACME_TEST_RETRY_SECONDS", "1");
}

fn trusting_pem(pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(cert.expect("PEM")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A verified handshake for NAME, or the error.
fn try_verified(addr: SocketAddr, config: &Arc<ClientConfig>) -> Result<Tls, String> {
    use rustls::pki_types::ServerName;
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(NAME.to_owned()).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(config.clone(), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| e.to_string())?;
    }
    Ok(tls)
}

/// Waits until tern serves a certificate the client trusts.
fn wait_trusted(tern: &Tern, ports: &Ports, trust: &Arc<ClientConfig>, pebble: Option<&Pebble>) {
    let addr: SocketAddr = ([127, 0, 0, 1], ports.tls).into();
    let mut last = String::new();
    let issued = wait_until(ISSUE_WAIT, || match try_verified(addr, trust) {
        Ok(_) => true,
        Err(e) => {
            last = e;
            std::thread::sleep(Duration::from_millis(100));
            false
        }
    });
    assert!(
        issued,
        "no trusted certificate ({last})\n--- tern ---\n{}\n--- pebble ---\n{}",
        tern.stderr().join("\n"),
        pebble.map(Pebble::output).unwrap_or_default()
    );
}

fn served_cert(addr: SocketAddr, config: &Arc<ClientConfig>) -> CertificateDer<'static> {
    let tls = try_verified(addr, config).expect("handshake");
    tls.conn.peer_certificates().expect("certificate")[0]
        .clone()
        .into_owned()
}

fn get_over(tls: &mut Tls) -> (String, Vec<u8>) {
    tls_roundtrip(
        tls,
        format!("GET / HTTP/1.1\r\nHost: {NAME}\r\n\r\n").as_bytes(),
    )
}

fn admin(tern: &Tern, path: &str) -> String {
    let addr = tern.admin_addr();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (raw, _) = raw_request(addr, request.as_bytes());
    String::from_utf8_lossy(&raw).into_owned()
}

/// A metric's value for our certificate, if present.
fn metric(tern: &Tern, name: &str) -> Option<f64> {
    let text = admin(tern, "/metrics");
    let prefix = format!("{name}{{domains=\"{NAME}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

fn start_pebble(ports: &Ports, validity: Option<u64>) -> Pebble {
    let setup = PebbleSetup {
        http_port: ports.http,
        tls_port: ports.tls,
        names: &[NAME],
        validity,
        port: None,
    };
    Pebble::start(&setup, https_cert())
}

fn start_tern(ports: &Ports, acme: &Acme, storage: &Storage, extra: &str) -> Tern {
    fast_retries();
    Tern::start(&config(ports, acme, storage, extra))
}

fn tls_addr(ports: &Ports) -> SocketAddr {
    ([127, 0, 0, 1], ports.tls).into()
}

#[test]
fn http01_first_order_gives_a_certificate_trusted_through_pebbles_root() {
    let ports = Ports::free();
    let pebble = start_pebble(&ports, None);
    let storage = Storage::new();
    let tern = start_tern(
        &ports,
        &Acme::of(&pebble, true),
        &storage,
        ", challenge = \"http-01\"",
    );
    let trust = trusting_pem(&pebble.root_pem());
    wait_trusted(&tern, &ports, &trust, Some(&pebble));
    let addr: SocketAddr = ([127, 0, 0, 1], ports.tls).into();
    let mut tls = try_verified(addr, &trust).expect("handshake");
    let (head, body) = get_over(&mut tls);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"hello over tls\n");
    // Pebble validated over the plain listener, whose only route redirects:
    // the challenge was answered before routing. Other requests still
    // reach the route (an unknown token too).
    let plain: SocketAddr = ([127, 0, 0, 1], ports.http).into();
    let (raw, _) = raw_request(
        plain,
        b"GET /.well-known/acme-challenge/unknown HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.starts_with(b"HTTP/1.1 301"), "{}", show(&raw));
    // Stored owner-only.
    assert_eq!(mode(&storage.path), 0o700);
    let mut files = 0;
    for entry in walk(&storage.path) {
        let expected = if entry.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&entry), expected, "{}", entry.display());
        files += usize::from(entry.is_file());
    }
    assert_eq!(files, 4, "account, certificate, key and its CA's directory");
    // Expiry is exposed; no order failed.
    let expiry = metric(&tern, "tern_certificate_expiry_seconds")
        .unwrap_or_else(|| panic!("no expiry gauge:\n{}", admin(&tern, "/metrics")));
    assert!(expiry > 86_400.0, "{expiry}");
    assert_eq!(metric(&tern, "tern_acme_failed_orders_total"), Some(0.0));
    let status = admin(&tern, "/status");
    assert!(status.contains("\"domains\": \"site.test\""), "{status}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        }
        found.push(path);
    }
    found
}

#[test]
fn tls_alpn01_is_chosen_without_a_plain_listener_and_gives_a_trusted_certificate() {
    let ports = Ports::free();
    let pebble = start_pebble(&ports, None);
    let storage = Storage::new();
    // A certificate from files on the same listener, the default for
    // other names: SNI picks.
    let files = make_cert("files", &["files.test"]);
    let acme = Acme {
        files: format!(
            "certificates = [{{ cert = \"{}\", key = \"{}\" }}], ",
            files.cert_file.path_str(),
            files.key_file.path_str()
        ),
        ..Acme::of(&pebble, false)
    };
    // No `challenge`: with no plain listener, TLS-ALPN-01 is the one left.
    let tern = start_tern(&ports, &acme, &storage, "");
    let trust = trusting_pem(&pebble.root_pem());
    wait_trusted(&tern, &ports, &trust, Some(&pebble));
    let tls = connect_tls(tls_addr(&ports), &client_config(&[&files]), "files.test");
    assert_eq!(
        tls.conn.peer_certificates().expect("certificate")[0],
        files.der
    );
    let mut tls = try_verified(tls_addr(&ports), &trust).expect("handshake");
    let (head, body) = get_over(&mut tls);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"hello over tls\n");
    assert_eq!(metric(&tern, "tern_acme_failed_orders_total"), Some(0.0));
}

#[test]
fn renewal_swaps_the_certificate_in_every_worker_under_live_connections() {
    let ports = Ports::free();
    // 9 s certificates: renewed after 2/3 of their life, every 6 s.
    let pebble = start_pebble(&ports, Some(9));
    let storage = Storage::new();
    let tern = start_tern(&ports, &Acme::of(&pebble, true), &storage, "");
    let trust = trusting_pem(&pebble.root_pem());
    wait_trusted(&tern, &ports, &trust, Some(&pebble));
    let first = served_cert(tls_addr(&ports), &trust);
    // A connection opened on the first certificate, kept alive.
    let mut live = try_verified(tls_addr(&ports), &trust).expect("handshake");
    let (head, _) = get_over(&mut live);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let renewed = wait_until(ISSUE_WAIT, || {
        std::thread::sleep(Duration::from_millis(100));
        try_verified(tls_addr(&ports), &trust)
            .ok()
            .and_then(|tls| tls.conn.peer_certificates().map(|c| c[0].clone()))
            .is_some_and(|cert| cert != first)
    });
    assert!(
        renewed,
        "not renewed\n--- tern ---\n{}",
        tern.stderr().join("\n")
    );
    // Every new handshake (whichever worker takes it) gets a new one...
    for _ in 0..8 {
        assert_ne!(served_cert(tls_addr(&ports), &trust), first);
    }
    // ...and the connection from before the swap goes on.
    let (head, body) = get_over(&mut live);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"hello over tls\n");
    assert!(tern.has_said("ACME: new certificate for site.test"));
}

#[test]
fn a_ca_that_is_down_leaves_tern_serving_and_retrying_until_it_is_back() {
    let ports = Ports::free();
    let ca_port = free_port();
    let cert = https_cert();
    let storage = Storage::new();
    let acme = Acme {
        directory: format!("https://127.0.0.1:{ca_port}/dir"),
        ca: cert.cert_file.path_str(),
        plain: true,
        files: String::new(),
    };
    let tern = start_tern(&ports, &acme, &storage, "");
    // Served meanwhile: plain routes, and TLS with a temporary certificate.
    let plain: SocketAddr = ([127, 0, 0, 1], ports.http).into();
    let (raw, _) = raw_request(
        plain,
        b"GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.starts_with(b"HTTP/1.1 301"), "{}", show(&raw));
    let mut tls = connect_tls(tls_addr(&ports), &insecure_config(), NAME);
    let (head, body) = get_over(&mut tls);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"hello over tls\n");
    let retried = wait_until(ISSUE_WAIT, || {
        std::thread::sleep(Duration::from_millis(100));
        metric(&tern, "tern_acme_failed_orders_total").is_some_and(|n| n >= 2.0)
    });
    assert!(retried, "{}", admin(&tern, "/metrics"));
    assert_eq!(metric(&tern, "tern_certificate_expiry_seconds"), None);
    // Logged once, with the reason, however often it is retried.
    let failures = tern.said("ACME: order for site.test failed");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("Connection refused"), "{failures:?}");
    let page = admin(&tern, "/");
    assert!(page.contains("not issued yet"), "{page}");
    // The CA comes back: the next retry succeeds.
    let setup = PebbleSetup {
        http_port: ports.http,
        tls_port: ports.tls,
        names: &[NAME],
        validity: None,
        port: Some(ca_port),
    };
    let pebble = Pebble::start(&setup, cert);
    let trust = trusting_pem(&pebble.root_pem());
    wait_trusted(&tern, &ports, &trust, Some(&pebble));
}

#[test]
fn a_restart_and_a_reload_reuse_the_stored_certificate_without_ordering() {
    let ports = Ports::free();
    let pebble = start_pebble(&ports, None);
    let storage = Storage::new();
    let acme = Acme::of(&pebble, true);
    let mut tern = start_tern(&ports, &acme, &storage, "");
    let trust = trusting_pem(&pebble.root_pem());
    wait_trusted(&tern, &ports, &trust, Some(&pebble));
    let issued = served_cert(tls_addr(&ports), &trust);
    tern.sigterm();
    assert!(tern.wait_exit(Duration::from_secs(10)).is_some());
    drop(tern);
    // The CA is gone: whatever tern serves now comes from storage.
    let ca = std::fs::read_to_string(&acme.ca).expect("CA file");
    let ca = TempFile::new("ca.pem", &ca);
    drop(pebble);
    let acme = Acme {
        ca: ca.path_str(),
        ..acme
    };
    let tern = start_tern(&ports, &acme, &storage, "");
    assert_eq!(served_cert(tls_addr(&ports), &trust), issued);
    tern.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || tern.has_said("reloaded:")));
    assert_eq!(served_cert(tls_addr(&ports), &trust), issued);
    // The ACME thread has looked (it polls every second) and ordered nothing.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(metric(&tern, "tern_acme_failed_orders_total"), Some(0.0));
    assert!(!tern.has_said("ACME:"), "{:?}", tern.stderr());
}

/// `tern --check` on a config with one TLS listener (and `plain`: a plain
/// one) whose acme table is `acme`: (success, stderr).
fn check(acme: &str, plain: bool) -> (bool, String) {
    let plain = match plain {
        true => "[[listener]]\nbind = \"127.0.0.1:0\"\n",
        false => "",
    };
    let config = format!(
        "[[listener]]\nbind = \"127.0.0.1:0\"\ntls = {{ acme = {{ {acme} }} }}\n{plain}\
         [[route]]\nrespond = {{ status = 200 }}\n"
    );
    let file = TempFile::new("acme.toml", &config);
    let out = run_tern(&["--check", "--config", &file.path_str()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_validates_the_acme_table_without_contacting_the_ca() {
    let storage = Storage::new();
    let ca = https_cert();
    let base = format!(
        "directory = \"https://127.0.0.1:{}/dir\", directory_ca = \"{}\", storage = \"{}\"",
        free_port(),
        ca.cert_file.path_str(),
        storage.path.display()
    );
    // Nothing listens at the directory: --check passes anyway, and creates nothing.
    let (ok, err) = check(&format!("domains = [\"{NAME}\"], {base}"), true);
    assert!(ok, "{err}");
    assert!(!storage.path.exists());
    let refused = [
        (
            format!("domain = [\"{NAME}\"], {base}"),
            true,
            "listener[0].tls.acme.domain: unknown field `domain`",
        ),
        (
            format!("domains = [], {base}"),
            true,
            "listener[0].tls.acme.domains: needs at least one domain name",
        ),
        (
            format!("domains = [\"*.site.test\"], {base}"),
            true,
            "listener[0].tls.acme.domains: \"*.site.test\": wildcard names need the DNS-01 challenge",
        ),
        (
            format!("domains = [\"bad_name.test\"], {base}"),
            true,
            "listener[0].tls.acme.domains: \"bad_name.test\" is not a domain name",
        ),
        (
            format!("domains = [\"{NAME}\"], contact = \"ops@site.test\", {base}"),
            true,
            "listener[0].tls.acme.contact: \"ops@site.test\" is not a \"mailto:\" address",
        ),
        (
            format!("domains = [\"{NAME}\"], challenge = \"http-01\", {base}"),
            false,
            "listener[0].tls.acme.challenge: http-01 is answered on a listener without tls",
        ),
        (
            format!("domains = [\"{NAME}\"], challenge = \"dns-01\", {base}"),
            true,
            "listener[0].tls.acme.challenge: unknown value `dns-01`, expected `http-01` or `tls-alpn-01`",
        ),
        (
            format!("domains = [\"{NAME}\"], directory = \"http://ca.test/dir\""),
            true,
            "listener[0].tls.acme.directory: \"http://ca.test/dir\" is not an https:// URL",
        ),
        (
            format!("domains = [\"{NAME}\"], directory_ca = \"/nonexistent/ca.pem\""),
            true,
            "listener[0].tls.acme.directory_ca: /nonexistent/ca.pem: cannot read certificates",
        ),
        (
            format!("domains = [\"{NAME}\"], storage = \"/nonexistent/dir/acme\""),
            true,
            "listener[0].tls.acme.storage: the directory /nonexistent/dir does not exist",
        ),
        (
            format!("domains = [\"{NAME}\"], storage = \"/proc/tern-acme\""),
            true,
            "listener[0].tls.acme.storage: tern cannot write in /proc",
        ),
    ];
    for (acme, plain, expected) in refused {
        let (ok, err) = check(&acme, plain);
        assert!(!ok, "accepted: {acme}");
        assert!(err.contains("acme.toml: "), "file not named: {err}");
        assert!(
            err.contains(expected),
            "for {acme}:\n{err}\nexpected: {expected}"
        );
    }
}

/// The config of `config`, with `domains` instead of NAME alone.
fn with_domains(text: &str, domains: &[&str]) -> String {
    let list: Vec<String> = domains.iter().map(|d| format!("\"{d}\"")).collect();
    text.replace(
        &format!("domains = [\"{NAME}\"]"),
        &format!("domains = [{}]", list.join(", ")),
    )
}

/// The subject of the certificate served for `name` (unverified).
fn served_subject(ports: &Ports, name: &str) -> String {
    let tls = connect_tls(tls_addr(ports), &insecure_config(), name);
    let der = tls.conn.peer_certificates().expect("certificate")[0].clone();
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::prelude::X509Certificate::from_der(&der).expect("X.509");
    cert.subject().to_string()
}

#[test]
fn adding_a_name_keeps_serving_the_old_certificate_until_the_new_one_is_issued() {
    let ports = Ports::free();
    // new.test is not in Pebble's DNS: every order for the new set fails.
    let pebble = start_pebble(&ports, None);
    let storage = Storage::new();
    let acme = Acme::of(&pebble, true);
    let mut tern = start_tern(&ports, &acme, &storage, "");
    let trust = trusting_pem(&pebble.root_pem());
    wait_trusted(&tern, &ports, &trust, Some(&pebble));
    let issued = served_cert(tls_addr(&ports), &trust);
    let added = with_domains(&config(&ports, &acme, &storage, ""), &[NAME, "new.test"]);
    let failed = |tern: &Tern| {
        wait_until(ISSUE_WAIT, || {
            std::thread::sleep(Duration::from_millis(100));
            tern.has_said("ACME: order for site.test,new.test failed")
        })
    };
    // By reload: the old certificate is still in the running plan.
    std::fs::write(tern.config_path(), &added).expect("write config");
    tern.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || tern.has_said("reloaded:")));
    assert!(failed(&tern), "{:?}", tern.stderr());
    assert_eq!(served_cert(tls_addr(&ports), &trust), issued);
    assert!(served_subject(&ports, "new.test").contains("tern temporary certificate"));
    // By restart: the old certificate is only in storage.
    tern.sigterm();
    assert!(tern.wait_exit(Duration::from_secs(10)).is_some());
    drop(tern);
    let tern = start_tern_with(&added);
    assert!(failed(&tern), "{:?}", tern.stderr());
    assert_eq!(served_cert(tls_addr(&ports), &trust), issued);
    assert!(served_subject(&ports, "new.test").contains("tern temporary certificate"));
}

fn start_tern_with(toml: &str) -> Tern {
    fast_retries();
    Tern::start(toml)
}

/// store.rs's name hash (FNV-1a, 64 bits), to put obstacles where tern
/// will store things.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn a_certificate_or_account_that_cannot_be_stored_is_used_not_ordered_again() {
    let ports = Ports::free();
    let pebble = start_pebble(&ports, None);
    let storage = Storage::new();
    let acme = Acme::of(&pebble, true);
    // Tests run as root, so modes stop nothing: a directory where the
    // account file goes, and a file where the certificate's directory goes.
    std::fs::create_dir_all(storage.path.join(format!(
        "account-{:016x}.json",
        fnv1a(acme.directory.as_bytes())
    )))
    .expect("account obstacle");
    std::fs::write(
        storage
            .path
            .join(format!("{NAME}-{:016x}", fnv1a(NAME.as_bytes()))),
        "",
    )
    .expect("certificate obstacle");
    let tern = start_tern(&ports, &acme, &storage, "");
    let trust = trusting_pem(&pebble.root_pem());
    wait_trusted(&tern, &ports, &trust, Some(&pebble));
    let issued = served_cert(tls_addr(&ports), &trust);
    // Retries come every second in tests: none happens, none is needed.
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(served_cert(tls_addr(&ports), &trust), issued);
    assert_eq!(metric(&tern, "tern_acme_failed_orders_total"), Some(0.0));
    assert_eq!(tern.said("ACME: new certificate for").len(), 1);
    assert_eq!(tern.said("ACME: cannot store the new account in").len(), 1);
    let unstored = tern.said("ACME: cannot store the certificate for site.test in");
    assert_eq!(unstored.len(), 1, "{:?}", tern.stderr());
}

#[test]
fn switching_the_directory_orders_from_the_new_ca_at_once() {
    let ports = Ports::free();
    // "Staging": the first CA.
    let staging = start_pebble(&ports, None);
    let storage = Storage::new();
    let tern = start_tern(&ports, &Acme::of(&staging, true), &storage, "");
    let staging_trust = trusting_pem(&staging.root_pem());
    wait_trusted(&tern, &ports, &staging_trust, Some(&staging));
    // "Production": another CA, another root. The certificate stored for
    // the same domains is the other CA's: ordered again, not served.
    let production = start_pebble(&ports, None);
    let switched = config(&ports, &Acme::of(&production, true), &storage, "");
    std::fs::write(tern.config_path(), &switched).expect("write config");
    tern.signal("HUP");
    assert!(wait_until(Duration::from_secs(10), || tern.has_said("reloaded:")));
    let production_trust = trusting_pem(&production.root_pem());
    wait_trusted(&tern, &ports, &production_trust, Some(&production));
}

#[test]
fn corrupted_stored_files_are_named_in_a_warning_and_replaced() {
    let ports = Ports::free();
    let pebble = start_pebble(&ports, None);
    let storage = Storage::new();
    let acme = Acme::of(&pebble, true);
    let account = storage.path.join(format!(
        "account-{:016x}.json",
        fnv1a(acme.directory.as_bytes())
    ));
    let certificate = storage
        .path
        .join(format!("{NAME}-{:016x}", fnv1a(NAME.as_bytes())));
    std::fs::create_dir_all(&certificate).expect("certificate directory");
    std::fs::write(&account, "{ not json").expect("account");
    std::fs::write(certificate.join("cert.pem"), "not a certificate").expect("cert");
    std::fs::write(certificate.join("key.pem"), "not a key").expect("key");
    std::fs::write(certificate.join("directory"), &acme.directory).expect("directory");
    let tern = start_tern(&ports, &acme, &storage, "");
    let trust = trusting_pem(&pebble.root_pem());
    wait_trusted(&tern, &ports, &trust, Some(&pebble));
    let cert_warnings = tern.said(&format!(
        "ACME: ignoring the certificate stored in {}",
        certificate.join("cert.pem").display()
    ));
    assert_eq!(cert_warnings.len(), 1, "{:?}", tern.stderr());
    assert!(
        cert_warnings[0].contains("no certificate in the chain"),
        "{cert_warnings:?}"
    );
    let account_warnings = tern.said(&format!(
        "ACME: ignoring the account stored in {}",
        account.display()
    ));
    assert_eq!(account_warnings.len(), 1, "{:?}", tern.stderr());
}

/// A second `TestCert` with the same certificate and key (a CA restarted
/// with the certificate tern already trusts).
fn same_cert(cert: &TestCert) -> TestCert {
    let read = |file: &TempFile| std::fs::read_to_string(&file.path).expect("read");
    TestCert {
        der: cert.der.clone(),
        cert_file: TempFile::new("same.crt", &read(&cert.cert_file)),
        key_file: TempFile::new("same.key", &read(&cert.key_file)),
    }
}

#[test]
fn an_account_the_ca_no_longer_knows_is_replaced_by_a_new_one() {
    let ports = Ports::free();
    let setup = PebbleSetup {
        http_port: ports.http,
        tls_port: ports.tls,
        names: &[NAME],
        // Renewed after 4 s, by then from a CA that forgot the account.
        validity: Some(6),
        port: Some(free_port()),
    };
    let cert = https_cert();
    let again = same_cert(&cert);
    let pebble = Pebble::start(&setup, cert);
    let storage = Storage::new();
    let acme = Acme {
        ca: again.cert_file.path_str(),
        ..Acme::of(&pebble, true)
    };
    let tern = start_tern(&ports, &acme, &storage, "");
    wait_trusted(
        &tern,
        &ports,
        &trusting_pem(&pebble.root_pem()),
        Some(&pebble),
    );
    // Restarted with no state: the account is unknown to it.
    drop(pebble);
    let pebble = Pebble::start(&setup, again);
    wait_trusted(
        &tern,
        &ports,
        &trusting_pem(&pebble.root_pem()),
        Some(&pebble),
    );
    let dropped = tern.said("ACME: dropping the account stored in");
    assert!(!dropped.is_empty(), "{:?}", tern.stderr());
    assert!(dropped[0].contains("accountDoesNotExist"), "{dropped:?}");
}

/// A second certificate, from a CA that hangs.
const HUNG: &str = "hung.test";
/// Each request to a CA is bounded by this many seconds in the test below
/// (30 in production): far past the second Pebble takes to issue, so the
/// certificate from Pebble is issued while the hung one's order waits.
const REQUEST_SECONDS: u64 = 20;

#[test]
fn a_ca_that_never_answers_delays_no_other_certificate() {
    let ports = Ports::free();
    let pebble = start_pebble(&ports, None);
    let storage = Storage::new();
    // Connections to it are completed by the kernel (the backlog) and
    // then never read from, nor answered.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hung_port = hung.local_addr().expect("address").port();
    let acme = Acme::of(&pebble, true);
    // The hung CA's listener comes first: ordered one after the other, its
    // order would be the first.
    let stuck = format!(
        "[[listener]]\nname = \"stuck\"\nbind = \"127.0.0.1:{}\"\n\
         tls = {{ acme = {{ domains = [\"{HUNG}\"], directory = \"https://127.0.0.1:{hung_port}/dir\", \
         directory_ca = \"{}\", storage = \"{}\" }} }}\n",
        free_port(),
        acme.ca,
        storage.path.display()
    );
    let text = config(&ports, &acme, &storage, "").replacen(
        "[[listener]]\nname = \"websecure\"",
        &format!("{stuck}[[listener]]\nname = \"websecure\""),
        1,
    );
    std::env::set_var(
        "TERN_ACME_TEST_REQUEST_SECONDS",
        REQUEST_SECONDS.to_string(),
    );
    let tern = start_tern_with(&text);
    let trust = trusting_pem(&pebble.root_pem());
    wait_trusted(&tern, &ports, &trust, Some(&pebble));
    let hung_failed = format!("ACME: order for {HUNG} failed");
    assert!(
        !tern.has_said(&hung_failed),
        "{NAME} was issued only after the order from the hung CA gave up:\n{}",
        tern.stderr().join("\n")
    );
    // The hung one fails once its first request's bound is up, saying so.
    let failed = wait_until(Duration::from_secs(REQUEST_SECONDS + 30), || {
        std::thread::sleep(Duration::from_millis(100));
        tern.has_said(&hung_failed)
    });
    assert!(
        failed,
        "no failure logged for {HUNG}:\n{}",
        tern.stderr().join("\n")
    );
    let failures = tern.said(&hung_failed);
    let expected = format!(
        "the CA did not answer GET https://127.0.0.1:{hung_port}/dir within {REQUEST_SECONDS} s"
    );
    assert!(failures[0].contains(&expected), "{failures:?}");
    drop(hung);
}

#[test]
fn a_tls_alpn01_validation_connection_is_closed_after_its_handshake() {
    let ports = Ports::free();
    // Pebble validates on a port that takes connections and never answers:
    // the order stays pending, and tern answers its challenge meanwhile
    // (and again at each retry, within a second, once the order fails).
    let validation = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let setup = PebbleSetup {
        http_port: ports.http,
        tls_port: validation.local_addr().expect("address").port(),
        names: &[NAME],
        validity: None,
        port: None,
    };
    let pebble = Pebble::start(&setup, https_cert());
    let storage = Storage::new();
    let acme = Acme::of(&pebble, false);
    let tern = start_tern(&ports, &acme, &storage, ", challenge = \"tls-alpn-01\"");
    // A validator offers acme-tls/1 alone; its handshake fails until the
    // challenge is registered (there is no certificate to give it).
    let validator = validator_config();
    let mut handshake = Err(String::new());
    wait_until(ISSUE_WAIT, || {
        handshake = try_verified(tls_addr(&ports), &validator);
        if handshake.is_err() {
            std::thread::sleep(Duration::from_millis(50));
        }
        handshake.is_ok()
    });
    let mut tls = handshake.unwrap_or_else(|e| {
        panic!(
            "no validation handshake ({e})\n--- tern ---\n{}",
            tern.stderr().join("\n")
        )
    });
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"acme-tls/1"[..]));
    // A request sent anyway is not served: close_notify, and nothing else.
    use std::io::{Read, Write};
    let _ = tls.write_all(format!("GET / HTTP/1.1\r\nHost: {NAME}\r\n\r\n").as_bytes());
    let mut served = Vec::new();
    let end = tls.read_to_end(&mut served);
    assert!(served.is_empty(), "served: {}", show(&served));
    assert!(end.is_ok(), "not closed with close_notify: {end:?}");
    drop(validation);
}

/// A TLS-ALPN-01 validator's client: offers `acme-tls/1` alone, and takes
/// any certificate and signature (webpki refuses the challenge
/// certificate's critical acmeIdentifier extension).
fn validator_config() -> Arc<ClientConfig> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};
    #[derive(Debug)]
    struct TakeAnything(Vec<SignatureScheme>);
    impl ServerCertVerifier for TakeAnything {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Ok(HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.clone()
        }
    }
    let provider = rustls::crypto::ring::default_provider();
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(TakeAnything(schemes)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    Arc::new(config)
}
