//! Talking to tern's admin endpoint from the integration tests.
// Each test binary uses only some of these.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::*;

/// Starts tern with `cfg` and an admin endpoint on a free loopback port.
pub fn start_with_admin(cfg: &Cfg) -> Tern {
    Tern::start(&format!(
        "{}\n[admin]\nbind = \"127.0.0.1:0\"\n",
        cfg.render()
    ))
}

pub fn admin_addr(tern: &Tern) -> SocketAddr {
    tern.listeners
        .iter()
        .find(|(_, name)| name == "admin")
        .map(|(addr, _)| *addr)
        .expect("a `listening on ADDR (admin)` line")
}

/// One request to the admin endpoint: (status, head, body).
pub fn admin_request(tern: &Tern, method: &str, path: &str, extra: &str) -> (u16, String, String) {
    let addr = admin_addr(tern);
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n{extra}Connection: close\r\n\r\n"
    );
    let (raw, _) = raw_request_timeout(addr, req.as_bytes(), Duration::from_secs(5));
    let status = status_of(&raw).unwrap_or(0);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

pub fn scrape(tern: &Tern) -> String {
    let (status, _, body) = admin_request(tern, "GET", "/metrics", "");
    assert_eq!(status, 200, "GET /metrics: {body}");
    body
}

/// The value of one series, named with its labels exactly as rendered.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Scrapes until `series` has `want` (the numbers of a request are counted
/// just after its response went out), for at most 5 s; returns the last value.
pub fn wait_metric(tern: &Tern, series: &str, want: f64) -> Option<f64> {
    let mut last = None;
    wait_until(Duration::from_secs(5), || {
        last = metric(&scrape(tern), series);
        last == Some(want)
    });
    last
}

pub fn status_json(tern: &Tern) -> serde_json::Value {
    let (status, _, body) = admin_request(tern, "GET", "/status", "");
    assert_eq!(status, 200, "GET /status: {body}");
    serde_json::from_str(&body).unwrap_or_else(|err| panic!("not JSON ({err}): {body}"))
}
