//! `tern-loadtest forwarder` relays bytes both ways, unchanged, over one
//! origin connection per client connection, also when a side cannot take
//! everything at once (megabytes each way), and closes the origin
//! connection when the client goes; on epoll and in each of the io_uring
//! forms (`--ring`). The test itself plays the origin.

mod common;

use socket2::{Domain, Socket, Type};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
/// The test's sockets receive through a small window, so the forwarder's
/// writes toward them come up short and it must hold on to the rest.
const SMALL_RCVBUF: usize = 8 * 1024;

/// The forwarder on epoll (`ring` empty) or in an io_uring form.
fn start(upstream: &str, ring: &[&str]) -> common::Running {
    let mut args = vec![
        "forwarder",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        upstream,
    ];
    args.extend(ring);
    common::start(&args)
}

/// The next connection the forwarder opens to the test's origin, or None
/// after `within`.
fn accept_within(origin: &TcpListener, within: Duration) -> Option<TcpStream> {
    origin.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match origin.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking");
                s.set_read_timeout(Some(WAIT)).expect("timeout");
                return Some(s);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    None
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

fn small_window_socket() -> Socket {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    s.set_recv_buffer_size(SMALL_RCVBUF).expect("SO_RCVBUF");
    s
}

fn origin_listener() -> TcpListener {
    let s = small_window_socket();
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    s.bind(&any.into()).expect("bind");
    s.listen(16).expect("listen");
    s.into()
}

fn client(addr: &str) -> TcpStream {
    let s = small_window_socket();
    let to: SocketAddr = addr.parse().expect("addr");
    s.connect(&to.into()).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.into()
}

/// Writes `out` on `w` from a second thread while reading `len` bytes from
/// `r`. The reader starts late, so everything between them fills up first
/// (no assertion depends on how late).
fn send_and_receive(mut w: TcpStream, out: Vec<u8>, r: &mut TcpStream, len: usize) -> Vec<u8> {
    let writer = thread::spawn(move || w.write_all(&out).map(|()| w));
    thread::sleep(Duration::from_millis(200));
    let mut got = vec![0; len];
    r.read_exact(&mut got).expect("read relayed bytes");
    writer.join().expect("writer").expect("write");
    got
}

#[test]
fn forwarder_relays_requests_and_responses_both_ways() {
    relays_both_ways(&[]);
}

#[test]
fn the_ring_forwarder_relays_both_ways_with_one_shot_operations() {
    relays_both_ways(&["--ring", "plain"]);
}

#[test]
fn the_ring_forwarder_relays_both_ways_on_registered_files() {
    relays_both_ways(&["--ring", "fixed"]);
}

/// Sixteen 4 KiB buffers for megabytes in flight: reads run out of
/// buffers and must start again as the bytes go on.
#[test]
fn the_ring_forwarder_relays_both_ways_with_multishot_reads_into_provided_buffers() {
    relays_both_ways(&["--ring", "multishot", "--ring-buffers", "16"]);
}

#[test]
fn each_form_relays_a_last_response_before_the_origin_s_close() {
    for ring in [
        &[][..],
        &["--ring", "plain"],
        &["--ring", "fixed"],
        &["--ring", "multishot"],
    ] {
        let origin = origin_listener();
        let fwd = start(&origin.local_addr().expect("addr").to_string(), ring);
        // The response and the origin's end arrive together as often as
        // not; each time the whole response must reach the client first.
        for _ in 0..20 {
            last_response_then_close(&origin, &fwd, ring);
        }
    }
}

fn last_response_then_close(origin: &TcpListener, fwd: &common::Running, ring: &[&str]) {
    let mut client = client(&fwd.addr);
    let request = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    client.write_all(request).expect("write");
    let mut up = accept_within(origin, WAIT).expect("the forwarder connects to the origin");
    let mut got = vec![0; request.len()];
    up.read_exact(&mut got).expect("origin reads the request");
    let response = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
    up.write_all(response).expect("write");
    drop(up);
    let mut got = Vec::new();
    client
        .read_to_end(&mut got)
        .expect("the client reads to the end");
    assert_eq!(got, response, "forwarder {ring:?}");
}

/// Two clients in turn, each through the whole exchange (the second may
/// get the first's slot in the forwarder, freed when the first went).
fn relays_both_ways(ring: &[&str]) {
    let origin = origin_listener();
    let fwd = start(&origin.local_addr().expect("addr").to_string(), ring);
    for _ in 0..2 {
        one_client_through(&origin, &fwd);
    }
}

fn one_client_through(origin: &TcpListener, fwd: &common::Running) {
    let mut client = client(&fwd.addr);
    let mut up = accept_within(origin, WAIT).expect("the forwarder connects to the origin");

    // A small request and its response, as wrk sends them.
    let request = b"GET / HTTP/1.1\r\nHost: o\r\n\r\n";
    client.write_all(request).expect("write");
    let mut got = vec![0; request.len()];
    up.read_exact(&mut got).expect("origin reads the request");
    assert_eq!(got, request);
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    up.write_all(response).expect("write");
    let mut got = vec![0; response.len()];
    client
        .read_exact(&mut got)
        .expect("client reads the response");
    assert_eq!(got, response);

    // Then megabytes each way on the same connections: more than the socket
    // buffers hold, so the forwarder must keep what a side cannot take yet.
    let big = 4 << 20;
    let to_origin = pattern(big, 0x5a);
    let got = send_and_receive(
        client.try_clone().expect("clone"),
        to_origin.clone(),
        &mut up,
        big,
    );
    assert!(got == to_origin, "bytes to the origin arrived changed");
    let to_client = pattern(big, 0xa5);
    let got = send_and_receive(
        up.try_clone().expect("clone"),
        to_client.clone(),
        &mut client,
        big,
    );
    assert!(got == to_client, "bytes to the client arrived changed");

    // Still one origin connection for that client; it ends with the client.
    assert!(accept_within(origin, Duration::from_millis(200)).is_none());
    drop(client);
    let mut rest = Vec::new();
    let n = up
        .read_to_end(&mut rest)
        .expect("the origin connection closes");
    assert_eq!(n, 0, "nothing more arrives after the client left");
}
