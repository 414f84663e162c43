//! Pebble, Let's Encrypt's test CA (Debian package `pebble`), started on
//! loopback ports for the ACME tests. It validates challenges against the
//! ports tern will listen on, resolving names through a dnsmasq the test
//! also starts. Its directory is served over HTTPS with a certificate the
//! test makes (tern trusts it through `directory_ca`); the root it issues
//! from is fetched from its management port. Ended by PID on drop.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use super::dns::Dnsmasq;
use super::tls_client::{client_config, connect_tls, make_cert, tls_roundtrip, TestCert};
use super::*;

pub const PEBBLE: &str = "/usr/bin/pebble";

/// A port nobody listens on now (tern or Pebble binds it next).
use super::free_port;

pub struct Pebble {
    child: Child,
    pub port: u16,
    management: u16,
    /// The certificate Pebble's directory is served with (tern's `directory_ca`).
    pub https_cert: TestCert,
    output: Arc<Mutex<Vec<String>>>,
    _config: TempFile,
    _dns: Dnsmasq,
}

/// What Pebble validates against and how long its certificates last.
pub struct PebbleSetup<'a> {
    /// tern's plain and TLS ports (Pebble's `httpPort` and `tlsPort`).
    pub http_port: u16,
    pub tls_port: u16,
    /// Names resolved to 127.0.0.1.
    pub names: &'a [&'a str],
    /// Certificate lifetime in seconds; `None`: Pebble's default (years).
    pub validity: Option<u64>,
    /// Pebble's own port; `None`: a free one.
    pub port: Option<u16>,
}

/// The certificate Pebble serves its directory with (made before Pebble
/// starts when tern must be configured first).
pub fn https_cert() -> TestCert {
    make_cert("pebble", &["127.0.0.1", "localhost"])
}

impl Pebble {
    pub fn start(setup: &PebbleSetup, https_cert: TestCert) -> Pebble {
        assert!(
            std::path::Path::new(PEBBLE).exists(),
            "{PEBBLE} is missing: apt-get install pebble (.ci/run installs it)"
        );
        let hosts: String = setup
            .names
            .iter()
            .map(|n| format!("127.0.0.1 {n}\n"))
            .collect();
        let dns = Dnsmasq::start(&hosts, &[]);
        let port = setup.port.unwrap_or_else(free_port);
        let management = free_port();
        let validity = setup
            .validity
            .map(|s| format!(",\n    \"certificateValidityPeriod\": {s}"))
            .unwrap_or_default();
        let config = TempFile::new(
            "pebble.json",
            &format!(
                "{{\"pebble\": {{\n    \"listenAddress\": \"127.0.0.1:{port}\",\n    \
                 \"managementListenAddress\": \"127.0.0.1:{management}\",\n    \
                 \"certificate\": \"{}\",\n    \"privateKey\": \"{}\",\n    \
                 \"httpPort\": {},\n    \"tlsPort\": {},\n    \"ocspResponderURL\": \"\",\n    \
                 \"externalAccountBindingRequired\": false{validity}\n}}}}\n",
                https_cert.cert_file.path_str(),
                https_cert.key_file.path_str(),
                setup.http_port,
                setup.tls_port,
            ),
        );
        let mut child = Command::new(PEBBLE)
            .arg("-config")
            .arg(&config.path)
            .arg("-dnsserver")
            .arg(dns.addr.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pebble");
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            let output = output.clone();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        // Pebble opens its directory and management listeners from separate
        // goroutines, so one accepting says nothing about the other: wait
        // for both (CI once fetched the root before the management port was up).
        let listening =
            |port: u16| TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).is_ok();
        let up = wait_until(Duration::from_secs(10), || {
            matches!(child.try_wait(), Ok(None)) && listening(port) && listening(management)
        });
        let pebble = Pebble {
            child,
            port,
            management,
            https_cert,
            output,
            _config: config,
            _dns: dns,
        };
        assert!(up, "pebble did not start:\n{}", pebble.output());
        pebble
    }

    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// What Pebble printed (for assertion messages).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// The root Pebble issues from, PEM.
    pub fn root_pem(&self) -> String {
        let config = client_config(&[&self.https_cert]);
        let addr: SocketAddr = ([127, 0, 0, 1], self.management).into();
        let mut tls = connect_tls(addr, &config, "127.0.0.1");
        let request = b"GET /roots/0 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let (head, body) = tls_roundtrip(&mut tls, request);
        assert!(head.starts_with("HTTP/1.1 200"), "roots/0: {head}");
        String::from_utf8(body).expect("PEM")
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
