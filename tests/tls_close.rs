//! Every orderly close of a TLS client connection says close_notify first
//! (RFC 8446 §6.1), so a client reading to the end can tell the end from a
//! truncation: rustls reports a bare TCP FIN as `UnexpectedEof`.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use common::tls_client::*;
use common::*;

fn config(upstream: SocketAddr, cert: &TestCert, timeouts: &str) -> String {
    format!(
        "[server]\nworkers = 1\nshutdown_grace = \"2s\"\n[server.timeouts]\n{timeouts}\n\
         [[listener]]\nbind = \"127.0.0.1:0\"\n\
         tls = {{ certificates = [{{ cert = \"{}\", key = \"{}\" }}] }}\n\
         [[route]]\nbackend = \"app\"\n[backend.app]\nservers = [\"{upstream}\"]\n",
        cert.cert_file.path_str(),
        cert.key_file.path_str()
    )
}

/// Reads until the connection ends; panics unless it ended with close_notify.
fn read_to_clean_end(tls: &mut Tls) -> Vec<u8> {
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    let mut all = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == ErrorKind::UnexpectedEof => {
                panic!(
                    "connection ended without close_notify after {:?}",
                    String::from_utf8_lossy(&all)
                )
            }
            Err(err) => panic!("connection ended with {err}"),
        }
    }
}

fn start(upstream: SocketAddr, timeouts: &str) -> (Tern, Tls) {
    let cert = make_cert("close", &["close.test"]);
    let tern = Tern::start(&config(upstream, &cert, timeouts));
    let tls = connect_tls(tern.addr(), &client_config(&[&cert]), "close.test");
    (tern, tls)
}

#[test]
fn a_response_with_connection_close_ends_with_close_notify() {
    let up = RecordingUpstream::echo();
    let (_tern, mut tls) = start(up.addr, "");
    tls.write_all(b"GET /bye HTTP/1.1\r\nHost: close.test\r\nConnection: close\r\n\r\n")
        .expect("write");
    let all = read_to_clean_end(&mut tls);
    assert!(all.starts_with(b"HTTP/1.1 200"), "{all:?}");
}

/// An HTTP/1.0 client gets a close-delimited body delimited by the close
/// (an HTTP/1.1 one gets it chunked, on a connection that stays open).
#[test]
fn a_close_delimited_upstream_body_ends_with_close_notify() {
    let up = RecordingUpstream::start(|c| {
        if c.read_request().is_some() {
            c.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it");
        }
    });
    let (_tern, mut tls) = start(up.addr, "");
    tls.write_all(b"GET / HTTP/1.0\r\nHost: close.test\r\n\r\n")
        .expect("write");
    let all = read_to_clean_end(&mut tls);
    assert!(
        all.ends_with(b"all of it"),
        "{:?}",
        String::from_utf8_lossy(&all)
    );
}

/// The same body cut short by the upstream (a reset mid-body) must not
/// look whole: the connection ends without close_notify, which the client
/// reads as a truncation (it was said, so the cut body looked complete).
#[test]
fn a_close_delimited_body_cut_short_ends_without_close_notify() {
    // A bare socket: the harness's upstream ends its connections with a FIN.
    let origin = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let origin_addr = origin.local_addr().expect("addr");
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = origin.accept() else {
            return;
        };
        let mut request = [0u8; 1024];
        let _ = conn.read(&mut request);
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart of it");
        std::thread::sleep(Duration::from_millis(200));
        // SO_LINGER 0: the close resets the connection.
        let _ = socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO));
    });
    let (tern, mut tls) = start(origin_addr, "");
    tls.write_all(b"GET / HTTP/1.0\r\nHost: close.test\r\n\r\n")
        .expect("write");
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(8)))
        .expect("timeout");
    let mut all = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        match tls.read(&mut chunk) {
            Ok(0) => break "close_notify".to_string(),
            Ok(n) => all.extend_from_slice(&chunk[..n]),
            Err(err) => break format!("{:?}", err.kind()),
        }
    };
    assert!(
        all.ends_with(b"part of it"),
        "{:?}",
        String::from_utf8_lossy(&all)
    );
    assert_eq!(end, "UnexpectedEof", "{:#?}", tern.stderr());
}

#[test]
fn the_idle_timeout_ends_with_close_notify() {
    let up = RecordingUpstream::echo();
    let (_tern, mut tls) = start(up.addr, "client_idle = \"300ms\"");
    let (head, _) = tls_roundtrip(&mut tls, b"GET / HTTP/1.1\r\nHost: close.test\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(read_to_clean_end(&mut tls).is_empty());
}

#[test]
fn a_header_timeout_ends_with_close_notify() {
    let up = RecordingUpstream::echo();
    let (_tern, mut tls) = start(up.addr, "client_header = \"300ms\"");
    tls.write_all(b"GET / HTTP/1.1\r\nHost: clo")
        .expect("write");
    let all = read_to_clean_end(&mut tls);
    assert!(all.starts_with(b"HTTP/1.1 408"), "{all:?}");
}

#[test]
fn a_refused_request_ends_with_close_notify() {
    let up = RecordingUpstream::echo();
    let (_tern, mut tls) = start(up.addr, "");
    tls.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        .expect("write");
    let all = read_to_clean_end(&mut tls);
    assert!(all.starts_with(b"HTTP/1.1 400"), "{all:?}");
}

#[test]
fn a_stop_ends_idle_connections_with_close_notify() {
    let up = RecordingUpstream::echo();
    let (tern, mut tls) = start(up.addr, "");
    let (head, _) = tls_roundtrip(&mut tls, b"GET / HTTP/1.1\r\nHost: close.test\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    tern.sigterm();
    assert!(read_to_clean_end(&mut tls).is_empty());
}

#[test]
fn the_end_of_a_tunnel_says_close_notify() {
    let up = RecordingUpstream::start(|c| {
        if c.read_request().is_some() {
            c.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhi");
        }
    });
    let (_tern, mut tls) = start(up.addr, "");
    tls.write_all(
        b"GET /ws HTTP/1.1\r\nHost: close.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .expect("write");
    let all = read_to_clean_end(&mut tls);
    assert!(all.ends_with(b"hi"), "{:?}", String::from_utf8_lossy(&all));
}
