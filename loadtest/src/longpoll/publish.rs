//! The single publish that releases every subscriber: a plain blocking
//! POST from the parent, timestamped right before the request is written.

use crate::clock::mono_ns;
use crate::http::{response_info, Framing, MAX_HEADERS};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Published {
    /// CLOCK_MONOTONIC ns just before the request was written.
    pub sent_ns: u64,
    /// The origin's `released N`, if the answer had that form.
    pub released: Option<u64>,
}

pub fn publish(
    addr: SocketAddr,
    channel: &str,
    message: &str,
    timeout: Duration,
) -> Result<Published, String> {
    let timeout = timeout.max(Duration::from_millis(100));
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("publish connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let _ = s.set_nodelay(true);
    let request = format!(
        "POST /publish/{channel} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{message}",
        message.len()
    );
    let sent_ns = mono_ns();
    s.write_all(request.as_bytes())
        .map_err(|e| format!("publish write: {e}"))?;
    // Connection: close, so the response ends at EOF whatever its framing.
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("publish read: {e}"))?;
    let (status, body) = parse(&raw)?;
    if status != 200 {
        return Err(format!("publish answered {status}"));
    }
    let released = std::str::from_utf8(body)
        .ok()
        .and_then(|b| b.trim().strip_prefix("released "))
        .and_then(|n| n.parse().ok());
    Ok(Published { sent_ns, released })
}

fn parse(raw: &[u8]) -> Result<(u16, &[u8]), String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let len = match res.parse(raw) {
        Ok(httparse::Status::Complete(len)) => len,
        _ => return Err("publish: malformed or truncated response".into()),
    };
    let info = response_info(&res, false).map_err(|e| format!("publish: {e}"))?;
    let body = &raw[len..];
    let body = match info.framing {
        Framing::Length(n) => body.get(..n as usize).unwrap_or(body),
        // A chunked "released N" would need decoding; the count is only
        // informational, so leave it unparsed rather than guess.
        Framing::Chunked => &[],
        _ => body,
    };
    Ok((info.status, body))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_origin_answer() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nreleased 5\n";
        let (status, body) = super::parse(raw).unwrap();
        assert_eq!((status, body), (200, &b"released 5\n"[..]));
    }
}
