//! ACME: tern orders, serves, stores and renews certificates from a real
//! ACME server, Pebble (Let's Encrypt's test CA), started on loopback and
//! validating against tern's own ports (tests/common/pebble.rs).

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::pebble::{free_port, Pebble, PebbleSetup};
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

/// tern with a plain listener (everything redirected to https: the
/// challenge must be answered before routes) and a TLS listener whose
/// certificate comes from `directory`.
fn config(ports: &Ports, directory: &str, ca: &str, storage: &Storage, challenge: &str) -> String {
    format!(
        "[server]\nworkers = 2\n\
         [admin]\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:{}\"\n\
         [[listener]]\nname = \"websecure\"\nbind = \"127.0.0.1:{}\"\n\
         tls = {{ acme = {{ domains = [\"{NAME}\"], contact = \"mailto:ops@site.test\", \
         directory = \"{directory}\", directory_ca = \"{ca}\", storage = \"{}\"{challenge} }} }}\n\
         [[route]]\nlistener = [\"web\"]\nredirect = {{ scheme = \"https\", status = 301 }}\n\
         [[route]]\nrespond = {{ status = 200, body = \"hello over tls\\n\" }}\n",
        ports.http,
        ports.tls,
        storage.path.display()
    )
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
    let addr = tern
        .listeners
        .iter()
        .find(|(_, name)| name == "admin")
        .map(|(a, _)| *a)
        .expect("admin address");
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
    Pebble::start(&PebbleSetup {
        http_port: ports.http,
        tls_port: ports.tls,
        names: &[NAME],
        validity,
        port: None,
    })
}

fn start_tern(ports: &Ports, pebble: &Pebble, storage: &Storage, challenge: &str) -> Tern {
    fast_retries();
    Tern::start(&config(
        ports,
        &pebble.directory(),
        &pebble.https_cert.cert_file.path_str(),
        storage,
        challenge,
    ))
}

#[test]
fn http01_first_order_gives_a_certificate_trusted_through_pebbles_root() {
    let ports = Ports::free();
    let pebble = start_pebble(&ports, None);
    let storage = Storage::new();
    let tern = start_tern(&ports, &pebble, &storage, ", challenge = \"http-01\"");
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
    assert_eq!(files, 3, "account, certificate and key");
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
