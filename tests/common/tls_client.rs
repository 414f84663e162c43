//! A blocking rustls client and test certificates made with rcgen, for
//! the tests that talk to tern over TLS.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::TempFile;

/// A self-signed certificate and its key, written to temp files.
pub struct TestCert {
    pub der: CertificateDer<'static>,
    pub cert_file: TempFile,
    pub key_file: TempFile,
}

pub fn make_cert(tag: &str, names: &[&str]) -> TestCert {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names).expect("certificate");
    TestCert {
        der: made.cert.der().clone(),
        cert_file: TempFile::new(&format!("{tag}.crt"), &made.cert.pem()),
        key_file: TempFile::new(&format!("{tag}.key"), &made.signing_key.serialize_pem()),
    }
}

/// A self-signed certificate with an RSA key (2048 bits), made by the
/// `openssl` command: ring, under rcgen, signs with RSA keys but does not
/// make them.
pub fn make_rsa_cert(tag: &str, names: &[&str]) -> TestCert {
    use rustls::pki_types::pem::PemObject;
    let dir = super::TempDir::new(&format!("rsa-{tag}"));
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    let out = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", &format!("/CN={}", names[0])])
        .args(["-addext", &format!("subjectAltName={}", san.join(","))])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command is needed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cert_pem = std::fs::read_to_string(&cert).expect("certificate");
    let key_pem = std::fs::read_to_string(&key).expect("key");
    TestCert {
        der: CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("PEM"),
        cert_file: TempFile::new(&format!("{tag}.crt"), &cert_pem),
        key_file: TempFile::new(&format!("{tag}.key"), &key_pem),
    }
}

/// A client that trusts exactly `trusted` and offers ALPN http/1.1.
pub fn client_config(trusted: &[&TestCert]) -> Arc<ClientConfig> {
    let provider = rustls::crypto::ring::default_provider();
    client_config_with(trusted, provider, rustls::DEFAULT_VERSIONS)
}

/// `client_config` offering `provider`'s cipher suites, in its order, over
/// `versions`.
pub fn client_config_with(
    trusted: &[&TestCert],
    provider: rustls::crypto::CryptoProvider,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.der.clone()).expect("trust anchor");
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

pub type Tls = StreamOwned<ClientConnection, TcpStream>;

/// Connects and completes the handshake for server name `name`.
pub fn connect_tls(addr: SocketAddr, config: &Arc<ClientConfig>, name: &str) -> Tls {
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let server_name = ServerName::try_from(name.to_owned()).expect("server name");
    let conn = ClientConnection::new(config.clone(), server_name).expect("client");
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).expect("handshake");
    }
    tls
}

/// Reads a response head, through its empty line.
pub fn read_tls_head(tls: &mut Tls) -> String {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut byte).expect("response head");
        raw.push(byte[0]);
    }
    String::from_utf8_lossy(&raw).to_string()
}

/// Sends one request and reads one Content-Length response: (head, body).
pub fn tls_roundtrip(tls: &mut Tls, request: &[u8]) -> (String, Vec<u8>) {
    tls.write_all(request).expect("write");
    let head = read_tls_head(tls);
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    tls.read_exact(&mut body).expect("response body");
    (head, body)
}

/// The value of a header in a response head, if present.
pub fn head_value(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// An upstream that speaks TLS with `cert`, answers each request with its
/// target as the body, and counts connections and the SNI names it saw.
pub struct TlsUpstream {
    pub addr: SocketAddr,
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    pub names: Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

impl TlsUpstream {
    pub fn start(cert: &TestCert) -> TlsUpstream {
        use rustls::pki_types::pem::PemObject;
        let chain = vec![cert.der.clone()];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(cert.key_file.path_str())
            .expect("test key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let names = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (count, seen) = (connections.clone(), names.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let config = config.clone();
                let seen = seen.clone();
                std::thread::spawn(move || serve_tls(stream, config, seen));
            }
        });
        TlsUpstream {
            addr,
            connections,
            names,
        }
    }
}

fn serve_tls(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    seen: Arc<std::sync::Mutex<Vec<Option<String>>>>,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = StreamOwned::new(conn, stream);
    let mut name_recorded = false;
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if tls.read_exact(&mut byte).is_err() {
                return;
            }
            head.push(byte[0]);
        }
        if !name_recorded {
            let name = tls.conn.server_name().map(str::to_owned);
            if let Ok(mut names) = seen.lock() {
                names.push(name);
            }
            name_recorded = true;
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let target = text.split(' ').nth(1).unwrap_or("/").to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
            target.len(),
            target
        );
        if tls.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Accepts any server certificate (signatures are still checked): for
/// looking at which certificate is sent, or reaching a temporary one.
pub fn insecure_config() -> Arc<ClientConfig> {
    let provider = rustls::crypto::ring::default_provider();
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    insecure_config_with(provider, rustls::DEFAULT_VERSIONS, &schemes)
}

/// `insecure_config` offering `provider`'s cipher suites over `versions`,
/// and only `schemes` in its signature_algorithms: a client that can
/// verify only RSA signatures, say.
pub fn insecure_config_with(
    provider: rustls::crypto::CryptoProvider,
    versions: &[&'static rustls::SupportedProtocolVersion],
    schemes: &[rustls::SignatureScheme],
) -> Arc<ClientConfig> {
    #[derive(Debug)]
    struct AcceptAll(
        Arc<rustls::crypto::CryptoProvider>,
        Vec<rustls::SignatureScheme>,
    );
    impl rustls::client::danger::ServerCertVerifier for AcceptAll {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.1.clone()
        }
    }
    let provider = Arc::new(provider);
    let verifier = AcceptAll(provider.clone(), schemes.to_vec());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Arc::new(config)
}

/// Runs `openssl s_client` against `addr` with `args` (`-servername`,
/// `-tls1_2`, `-cipher`...), stdin closed so it leaves after the
/// handshake: whether it succeeded, and the server certificate it got (its
/// PEM, as `s_client` prints it), or its output when it failed.
pub fn openssl_s_client(addr: SocketAddr, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("timeout")
        .args(["10", "openssl", "s_client", "-connect", &addr.to_string()])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the openssl command is needed (.ci/run installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let begin = stdout.find("-----BEGIN CERTIFICATE-----");
    let end = stdout
        .find("-----END CERTIFICATE-----")
        .map(|at| at + "-----END CERTIFICATE-----".len());
    match (out.status.success(), begin, end) {
        (true, Some(begin), Some(end)) => Ok(stdout[begin..end].to_owned()),
        _ => Err(format!("{stdout}\n{stderr}")),
    }
}

/// The PEM of `cert` as a file holds it, for comparing with what
/// `openssl_s_client` got.
pub fn cert_pem(cert: &TestCert) -> String {
    let text = std::fs::read_to_string(&cert.cert_file.path).expect("certificate file");
    text.trim().to_owned()
}
