//! Helpers for the routing and load-balancing tests: upstreams that say
//! who they are, requests with a chosen Host and headers, and the seed
//! configs from `config/` with their addresses swapped for test ones.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use super::*;

/// An upstream that answers every request 200 with `X-Upstream: NAME` and
/// the body `NAME TARGET`; health-check requests are answered too.
pub fn named(name: &'static str) -> RecordingUpstream {
    RecordingUpstream::start(move |c| answer_as(name, c))
}

/// The same on a given listener (to bring a server back on its port).
pub fn named_on(name: &'static str, listener: TcpListener) -> RecordingUpstream {
    RecordingUpstream::with_listener(listener, move |c| answer_as(name, c))
}

fn answer_as(name: &str, c: &mut UpConn) {
    while let Some(req) = c.read_request() {
        let body = format!("{name} {}", req.head.target());
        if !c.respond(200, &[("X-Upstream", name)], body.as_bytes()) {
            return;
        }
    }
}

/// Binds the port `addr` had again (after its upstream was dropped).
pub fn rebind(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(addr) {
            return listener;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("cannot bind {addr} again");
}

/// `GET target` with `Host: host` and extra header lines (each "Name: v").
pub fn get_with(host: &str, target: &str, extra: &[&str]) -> Vec<u8> {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n");
    for line in extra {
        req.push_str(line);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

/// One request on a fresh connection.
pub fn fetch(addr: SocketAddr, req: &[u8]) -> Response {
    Conn::connect(addr).roundtrip(req)
}

/// Which upstream answered (its `X-Upstream`), or the status if tern did.
pub fn who(addr: SocketAddr, req: &[u8]) -> String {
    let r = fetch(addr, req);
    r.header("x-upstream")
        .unwrap_or_else(|| format!("status {}", r.status))
}

/// The address of the listener named `name`.
pub fn listener(tern: &Tern, name: &str) -> SocketAddr {
    tern.listeners
        .iter()
        .find(|(_, n)| n == name)
        .map(|(a, _)| *a)
        .unwrap_or_else(|| panic!("no listener {name}: {:?}", tern.listeners))
}

/// A seed config from `config/`, with `swaps` applied (each must occur),
/// every `bind` on an ephemeral 127.0.0.1 port, and two workers.
pub fn seed_config(file: &str, swaps: &[(&str, String)]) -> String {
    let path = format!("{}/config/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(&path).expect("read the seed config");
    for (from, to) in swaps {
        assert!(text.contains(from), "{from:?} not in {file}");
        text = text.replace(from, to);
    }
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("bind = ") {
                "bind = \"127.0.0.1:0\"".to_string()
            } else {
                line.to_string()
            }
        })
        .collect();
    format!("[server]\nworkers = 2\n\n{}\n", lines.join("\n"))
}

/// Waits until tern's stderr has a line containing every one of `parts`.
pub fn wait_log(tern: &Tern, parts: &[&str], timeout: Duration) -> bool {
    wait_until(timeout, || {
        tern.stderr()
            .iter()
            .any(|line| parts.iter().all(|p| line.contains(p)))
    })
}
