//! Just enough HTTP/1.1 for the admin endpoint: one request per connection
//! (blocking, with timeouts), parsed with httparse, answered with
//! `Connection: close`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Heads and bodies larger than this are refused: nothing here needs more.
const MAX_REQUEST: usize = 16 * 1024;
/// A client gets this long to send its request and take the answer, so a
/// stalled one can't hold the (one-at-a-time) admin thread for long.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Request {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub host: Option<String>,
    pub origin: Option<String>,
    /// Sent by browsers' HTML forms (`application/x-www-form-urlencoded`).
    pub content_type: Option<String>,
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub location: Option<String>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
            location: None,
        }
    }

    pub fn text(status: u16, message: &str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", format!("{message}\n"))
    }
}

/// Reads one request; `Err` with the status to refuse it with.
pub fn read_request(stream: &mut TcpStream) -> Result<Request, u16> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    loop {
        let n = stream.read(&mut buf[len..]).map_err(|_| 408u16)?;
        if n == 0 {
            return Err(400);
        }
        len += n;
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut fields);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(head_len)) => {
                let request = to_request(&req)?;
                let body = content_length(&req)?;
                drain_body(stream, len - head_len, body)?;
                return Ok(request);
            }
            Ok(httparse::Status::Partial) if len < buf.len() => {}
            Ok(httparse::Status::Partial) => return Err(431),
            Err(_) => return Err(400),
        }
    }
}

fn to_request(req: &httparse::Request) -> Result<Request, u16> {
    let target = req.path.ok_or(400u16)?;
    let field = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::to_owned)
    };
    Ok(Request {
        method: req.method.ok_or(400u16)?.to_owned(),
        path: target.split('?').next().unwrap_or_default().to_owned(),
        host: field("host"),
        origin: field("origin"),
        content_type: field("content-type"),
    })
}

fn content_length(req: &httparse::Request) -> Result<usize, u16> {
    let Some(field) = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    else {
        return Ok(0);
    };
    let text = std::str::from_utf8(field.value).map_err(|_| 400u16)?;
    let len: usize = text.trim().parse().map_err(|_| 400u16)?;
    if len > MAX_REQUEST {
        return Err(413);
    }
    Ok(len)
}

/// Reads and drops the body, so closing doesn't reset the answer away.
fn drain_body(stream: &mut TcpStream, buffered: usize, body: usize) -> Result<(), u16> {
    let mut left = body.saturating_sub(buffered);
    let mut sink = [0u8; 1024];
    while left > 0 {
        let n = stream
            .read(&mut sink[..left.min(1024)])
            .map_err(|_| 408u16)?;
        if n == 0 {
            return Err(400);
        }
        left -= n;
    }
    Ok(())
}

pub fn write_response(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
    let reason = crate::http::status::reason(response.status);
    let reason = match response.status {
        200 => "OK",
        303 => "See Other",
        403 => "Forbidden",
        422 => "Unprocessable Content",
        _ => reason,
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    if let Some(location) = &response.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&response.body)?;
    stream.flush()
}

/// Percent-encodes a path segment (names from the config may hold anything).
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX`; `None` if malformed or not UTF-8.
pub fn decode_segment(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_through_percent_encoding() {
        for name in ["app", "my app/v2", "ünï", "a%b"] {
            assert_eq!(decode_segment(&encode_segment(name)).as_deref(), Some(name));
        }
        assert_eq!(encode_segment("a b"), "a%20b");
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%4"), None);
    }
}
