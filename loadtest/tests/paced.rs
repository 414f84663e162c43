//! `tern-loadtest paced` sends every request its rate and length ask for
//! over kept-alive connections, charges a late answer to the requests
//! queued behind it, counts an answer other than 2xx as an error, opens a
//! new connection where the server said it would close, and sends POSTs
//! whose bodies are exactly as long as they say. The test itself plays the
//! server.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What the server saw.
#[derive(Default)]
struct Seen {
    connections: AtomicU64,
    requests: AtomicU64,
    /// Request body bytes, read by Content-Length.
    body_bytes: AtomicU64,
}

/// How the test server answers.
#[derive(Clone, Copy)]
struct Answer {
    status: &'static str,
    /// The request numbered so (over all connections, from 1) waits 300 ms
    /// for its answer; 0 for none.
    slow: u64,
    /// `Connection: close` on every answer, and close.
    close: bool,
}

const OK: Answer = Answer {
    status: "200 OK",
    slow: 0,
    close: false,
};

/// An HTTP/1.1 server on 127.0.0.1 answering every request (its body read
/// by Content-Length) with a 5-byte body, or none for a 204, as `answer`
/// says; it serves until the test process ends.
fn server(answer: Answer) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            counts.connections.fetch_add(1, Ordering::SeqCst);
            let counts = counts.clone();
            thread::spawn(move || answer_each(tcp, answer, &counts));
        }
    });
    (addr, seen)
}

fn answer_each(tcp: TcpStream, answer: Answer, seen: &Seen) {
    let mut reader = BufReader::new(tcp.try_clone().expect("clone"));
    let mut writer = tcp;
    let mut line = String::new();
    loop {
        // The head: lines up to the empty one; then the body it announces.
        let mut body_len = 0;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
            if let Some(len) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                body_len = len.trim().parse().expect("a Content-Length");
            }
        }
        let mut body = vec![0; body_len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        seen.body_bytes.fetch_add(body_len as u64, Ordering::SeqCst);
        if seen.requests.fetch_add(1, Ordering::SeqCst) + 1 == answer.slow {
            thread::sleep(Duration::from_millis(300));
        }
        let close = if answer.close {
            "Connection: close\r\n"
        } else {
            ""
        };
        let reply = match answer.status {
            "204 No Content" => format!("HTTP/1.1 204 No Content\r\n{close}\r\n"),
            status => format!("HTTP/1.1 {status}\r\nContent-Length: 5\r\n{close}\r\nhello"),
        };
        if writer.write_all(reply.as_bytes()).is_err() || answer.close {
            return;
        }
    }
}

/// Runs the client for half a second and returns its one-line JSON.
fn run_client(addr: &str, rate: &str, connections: &str) -> String {
    run_client_with(addr, rate, connections, &[])
}

fn run_client_with(addr: &str, rate: &str, connections: &str, more: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tern-loadtest"))
        .args([
            "paced",
            "--target",
            addr,
            "--rate",
            rate,
            "--seconds",
            "0.5",
        ])
        .args(["--connections", connections, "--json"])
        .args(more)
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
fn field(json: &str, key: &str) -> f64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} in {json}"));
    let number: String = json[at + key.len() + 3..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse().unwrap_or_else(|_| panic!("{key} in {json}"))
}

#[test]
fn every_slot_is_sent_on_a_kept_alive_connection_and_answered() {
    let (addr, seen) = server(OK);
    let json = run_client(&addr, "200", "4");
    assert_eq!(field(&json, "offered"), 100.0, "{json}");
    assert_eq!(field(&json, "completed"), 100.0, "{json}");
    assert_eq!(field(&json, "errors"), 0.0, "{json}");
    assert_eq!(seen.requests.load(Ordering::SeqCst), 100);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 4);
}

#[test]
fn posts_send_bodies_as_long_as_they_say_and_a_204_is_an_answer() {
    let (addr, seen) = server(Answer {
        status: "204 No Content",
        ..OK
    });
    let json = run_client_with(&addr, "200", "4", &["--post-bytes", "512"]);
    assert_eq!(field(&json, "completed"), 100.0, "{json}");
    assert_eq!(field(&json, "errors"), 0.0, "{json}");
    assert_eq!(seen.requests.load(Ordering::SeqCst), 100);
    assert_eq!(seen.body_bytes.load(Ordering::SeqCst), 100 * 512);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 4);
}

#[test]
fn a_late_answer_is_charged_to_the_requests_queued_behind_it() {
    // One connection, a request every 10 ms; the 10th answer takes 300 ms,
    // so about 30 requests wait behind it. Timed from their slots, half the
    // requests take longer than 20 ms; timed from when they were sent (what
    // a closed-loop client reports), nearly none do.
    let (addr, _) = server(Answer { slow: 10, ..OK });
    let json = run_client(&addr, "100", "1");
    assert_eq!(field(&json, "completed"), 50.0, "{json}");
    assert!(field(&json, "latency_max_ms") >= 290.0, "{json}");
    assert!(field(&json, "latency_p50_ms") > 20.0, "{json}");
    assert!(field(&json, "service_p50_ms") < 20.0, "{json}");
}

#[test]
fn an_answer_other_than_2xx_is_an_error() {
    let (addr, _) = server(Answer {
        status: "503 Service Unavailable",
        ..OK
    });
    let json = run_client(&addr, "100", "2");
    assert_eq!(field(&json, "completed"), 0.0, "{json}");
    assert_eq!(field(&json, "errors"), 50.0, "{json}");
    assert!(json.contains("status=50"), "{json}");
}

#[test]
fn a_connection_the_server_closes_is_replaced_at_the_next_slot() {
    let (addr, seen) = server(Answer { close: true, ..OK });
    let json = run_client(&addr, "100", "2");
    assert_eq!(field(&json, "completed"), 50.0, "{json}");
    assert_eq!(field(&json, "errors"), 0.0, "{json}");
    assert_eq!(seen.connections.load(Ordering::SeqCst), 50);
}
