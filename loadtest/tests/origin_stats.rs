//! `GET /origin-stats` counts the connections the origin accepted: once per
//! connection, however many requests it carries (bench/ divides it by the
//! requests a proxy forwarded to get its upstream connects per request).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn start() -> common::Running {
    common::start(&["origin", "--listen", "127.0.0.1:0", "--workers", "2"])
}

/// Sends `requests` GETs on one connection (the last with Connection:
/// close) and returns everything read until the origin closes.
fn exchange(addr: &str, path: &str, requests: usize) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut out = String::new();
    for i in 0..requests {
        let close = if i + 1 == requests {
            "Connection: close\r\n"
        } else {
            ""
        };
        write!(s, "GET {path} HTTP/1.1\r\nHost: o\r\n{close}\r\n").expect("write");
    }
    s.read_to_string(&mut out).expect("read");
    out
}

fn accepted(addr: &str) -> u64 {
    let reply = exchange(addr, "/origin-stats", 1);
    let body = reply.split("\r\n\r\n").nth(1).expect("body");
    let n = body.trim().strip_prefix("accepted ").expect("accepted N");
    n.parse().expect("number")
}

#[test]
fn origin_stats_counts_connections_not_requests() {
    let origin = start();
    let before = accepted(&origin.addr);
    let replies = exchange(&origin.addr, "/", 5);
    assert_eq!(replies.matches("HTTP/1.1 200").count(), 5, "{replies}");
    for _ in 0..3 {
        exchange(&origin.addr, "/", 1);
    }
    // 4 connections above, and the one that asked for `before`.
    assert_eq!(accepted(&origin.addr) - before, 5);
}
