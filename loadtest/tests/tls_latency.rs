//! `tern-loadtest tls-latency` opens the connections its rate and length
//! ask for, resumes the TLS session unless `--full`, and counts an answer
//! other than 200 as an error. The test itself plays the TLS server.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// A TLS server on 127.0.0.1 answering every request with `status`, then
/// closing; it serves until the test process ends.
fn tls_server(status: &'static str) -> String {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert = CertificateDer::from(made.cert.der().to_vec());
    let key =
        PrivateKeyDer::from_pem_slice(made.signing_key.serialize_pem().as_bytes()).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let config = config.clone();
            thread::spawn(move || answer(tcp, config, status));
        }
    });
    addr
}

fn answer(tcp: TcpStream, config: Arc<ServerConfig>, status: &str) {
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let conn = ServerConnection::new(config).expect("server connection");
    let mut tls = StreamOwned::new(conn, tcp);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match tls.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    let _ = tls.write_all(reply.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// Runs the client: 40 connections/s for half a second (20 in all).
fn run_client(addr: &str, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tern-loadtest"))
        .args([
            "tls-latency",
            "--target",
            addr,
            "--rate",
            "40",
            "--seconds",
            "0.5",
        ])
        .args(["--threads", "2", "--json"])
        .args(extra)
        .output()
        .expect("run tern-loadtest");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The number after `"key":` in the client's one-line JSON.
fn field(json: &str, key: &str) -> u64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} in {json}"));
    let digits: String = json[at + key.len() + 3..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or_else(|_| panic!("{key} in {json}"))
}

#[test]
fn every_slot_gets_a_connection_and_all_but_the_first_resume() {
    let json = run_client(&tls_server("200 OK"), &[]);
    assert_eq!(field(&json, "completed"), 20, "{json}");
    assert_eq!(field(&json, "errors"), 0, "{json}");
    // Each of the two threads may start before any ticket has arrived.
    assert!(field(&json, "resumed") >= 18, "{json}");
    assert!(json.contains("\"total_p99_ms\":"), "{json}");
}

#[test]
fn with_full_no_session_is_resumed() {
    let json = run_client(&tls_server("200 OK"), &["--full"]);
    assert_eq!(field(&json, "completed"), 20, "{json}");
    assert_eq!(field(&json, "resumed"), 0, "{json}");
}

#[test]
fn an_answer_other_than_200_is_an_error() {
    let json = run_client(&tls_server("503 Service Unavailable"), &[]);
    assert_eq!(field(&json, "completed"), 0, "{json}");
    assert_eq!(field(&json, "errors"), 20, "{json}");
    assert!(json.contains("status=20"), "{json}");
}
