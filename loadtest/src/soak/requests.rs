//! Plain request traffic: keep-alive GETs, GETs on a new connection each,
//! chunked POSTs, and the publishes that release the long-polls.

use super::exchange::{closes, connect, Conn, Pace};
use super::{Shared, MESSAGE};
use crate::chunked::{chunk_header, LAST_CHUNK};
use crate::clock::mono_ns;
use crate::rng::random_u64;
use std::rc::Rc;
use std::time::Duration;

/// The origin answers `/bytes/N` with N bytes.
const GET_BYTES: usize = 1000;
const WAIT: Duration = Duration::from_secs(10);

fn get_request(close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!("GET /bytes/{GET_BYTES} HTTP/1.1\r\nHost: soak\r\n{connection}\r\n").into_bytes()
}

/// One keep-alive connection, GETs at the configured rate. A request that
/// fails on a reused connection before any answer is sent once more on a
/// new one, as clients do (RFC 9112 §9.3.1), and counted as retried.
pub async fn keepalive_gets(i: usize, sh: Rc<Shared>) {
    let mut pace = Pace::new(sh.s.rate, i as f64 / sh.s.clients.max(1) as f64);
    let mut conn: Option<Conn> = None;
    while sh.ledger.running() {
        pace.wait().await;
        let since = mono_ns();
        let reused = conn.is_some();
        let mut result = get_on(&mut conn, &sh).await;
        if reused && result == Err("reset") {
            sh.ledger.ok("get-retried");
            result = get_on(&mut conn, &sh).await;
        }
        match result {
            Ok(()) => sh.ledger.ok("get"),
            Err(cause) => sh.ledger.fail("get", cause, since),
        }
    }
}

async fn get_on(slot: &mut Option<Conn>, sh: &Shared) -> Result<(), &'static str> {
    let mut conn = match slot.take() {
        Some(conn) => conn,
        None => connect(sh.s.target).await?,
    };
    let response = conn.roundtrip(get_request(false), WAIT).await?;
    check_bytes(&response)?;
    if !closes(&response) {
        *slot = Some(conn);
    }
    Ok(())
}

fn check_bytes(response: &crate::httpclient::Response) -> Result<(), &'static str> {
    match (response.status, response.body.len()) {
        (200, GET_BYTES) => Ok(()),
        (200, _) => Err("short body"),
        (status, _) => Err(status_cause(status)),
    }
}

/// A new connection for every GET.
pub async fn fresh_gets(i: usize, sh: Rc<Shared>) {
    let mut pace = Pace::new(sh.s.rate, i as f64 / sh.s.clients.max(1) as f64);
    while sh.ledger.running() {
        pace.wait().await;
        let since = mono_ns();
        let result = async {
            let mut conn = connect(sh.s.target).await?;
            check_bytes(&conn.roundtrip(get_request(true), WAIT).await?)
        };
        match result.await {
            Ok(()) => sh.ledger.ok("get-new"),
            Err(cause) => sh.ledger.fail("get-new", cause, since),
        }
    }
}

/// Chunked POSTs of 1 to 20,000 bytes on a keep-alive connection; the
/// origin answers how many it received.
pub async fn chunked_posts(i: usize, sh: Rc<Shared>) {
    let mut pace = Pace::new(sh.s.rate, i as f64 / sh.s.clients.max(1) as f64);
    let mut slot: Option<Conn> = None;
    while sh.ledger.running() {
        pace.wait().await;
        let since = mono_ns();
        let size = 1 + (random_u64() % 20_000) as usize;
        match post_on(&mut slot, &sh, size).await {
            Ok(()) => sh.ledger.ok("post"),
            Err(cause) => sh.ledger.fail("post", cause, since),
        }
    }
}

async fn post_on(slot: &mut Option<Conn>, sh: &Shared, size: usize) -> Result<(), &'static str> {
    let mut conn = match slot.take() {
        Some(conn) => conn,
        None => connect(sh.s.target).await?,
    };
    let mut request =
        b"POST /upload HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut left = size;
    while left > 0 {
        let n = left.min(1 + (random_u64() % 4096) as usize);
        chunk_header(&mut request, n);
        request.resize(request.len() + n, b'p');
        request.extend_from_slice(b"\r\n");
        left -= n;
    }
    request.extend_from_slice(LAST_CHUNK);
    let response = conn.roundtrip(request, WAIT).await?;
    if response.status != 200 {
        return Err(status_cause(response.status));
    }
    if response.body != format!("received {size} bytes\n").as_bytes() {
        return Err("wrong count");
    }
    if !closes(&response) {
        *slot = Some(conn);
    }
    Ok(())
}

/// Releases the long-polls every few seconds, through tern.
pub async fn publisher(sh: Rc<Shared>) {
    let mut pace = Pace::new(1.0 / 5.0, 0.5);
    while sh.ledger.running() {
        pace.wait().await;
        let since = mono_ns();
        let request = format!(
            "POST /publish/soak HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n{MESSAGE}",
            MESSAGE.len()
        );
        let result = async {
            let mut conn = connect(sh.s.target).await?;
            let response = conn.roundtrip(request.into_bytes(), WAIT).await?;
            match response.status {
                200 => Ok(()),
                status => Err(status_cause(status)),
            }
        };
        match result.await {
            Ok(()) => sh.ledger.ok("publish"),
            Err(cause) => sh.ledger.fail("publish", cause, since),
        }
    }
}

/// `status 502` and friends, as static strings for the tally.
pub fn status_cause(status: u16) -> &'static str {
    match status {
        400 => "status 400",
        404 => "status 404",
        408 => "status 408",
        413 => "status 413",
        500 => "status 500",
        502 => "status 502",
        503 => "status 503",
        504 => "status 504",
        s if s < 300 => "status 2xx (unexpected)",
        s if s < 500 => "status 4xx",
        _ => "status 5xx",
    }
}
