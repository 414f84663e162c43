//! A response as an HTTP/2 response: its HEADERS, without the fields HTTP/2
//! forbids (RFC 9113 §8.2.2), and the framing that says how the body bytes
//! that follow become DATA.
//!
//! A relayed response arrives told (`from_start`: status, fields and body
//! framing from the relay, nothing parsed again). tern's own answers and
//! static files arrive as HTTP/1.1 bytes and are parsed back (`parse`).

use ::http::{HeaderName, HeaderValue, Response, StatusCode};

use crate::conn::downstream::ResponseStart;
use crate::http::chunked::ChunkedReframer;
use crate::http::BodyKind;

/// Fields a response head must not carry over HTTP/2.
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// How the body bytes after a head are read.
pub enum Framing {
    /// Exactly this many bytes remain.
    Length(u64),
    /// Chunks, decoded here.
    Chunked(Box<ChunkedReframer>),
    /// Everything until the exchange ends.
    UntilEnd,
    /// A WebSocket's bytes, both ways (after a 101 turned into a 200).
    Tunnel,
    /// The response is complete.
    Done,
}

/// A parsed head: the response to send, and how its body follows.
pub struct Head {
    pub response: Response<()>,
    pub framing: Framing,
    /// Bytes of `input` the head took.
    pub len: usize,
}

/// The HTTP/2 response for a relayed head, and how its plain body follows
/// (`Downstream::frames_body` is false for a stream: no chunks). `Err` when
/// a field can't be carried (the relay answers 502).
pub fn from_start(start: &ResponseStart<'_>) -> Result<(Response<()>, Framing), ()> {
    let status = StatusCode::from_u16(start.status).map_err(|_| ())?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    let mut bad = false;
    let headers = response.headers_mut();
    start.fields.each(&mut |name, value| {
        if HOP_BY_HOP
            .iter()
            .any(|hop| name.eq_ignore_ascii_case(hop.as_bytes()))
        {
            return;
        }
        // `from_bytes` lower-cases the name, as HTTP/2 requires.
        match (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => bad = true,
        }
    });
    if bad {
        return Err(());
    }
    let framing = match start.body {
        BodyKind::None => Framing::Done,
        BodyKind::Length(n) => {
            let length = HeaderValue::from(n);
            response
                .headers_mut()
                .insert(::http::header::CONTENT_LENGTH, length);
            if n == 0 {
                Framing::Done
            } else {
                Framing::Length(n)
            }
        }
        BodyKind::Chunked | BodyKind::UntilClose => Framing::UntilEnd,
    };
    Ok((response, framing))
}

/// Parses a complete response head at the start of `input`: `Ok(None)`
/// when more bytes are needed. `head_request`: the body is absent whatever
/// the head says.
pub fn parse(input: &[u8], head_request: bool) -> Result<Option<Head>, ()> {
    let mut fields = [httparse::EMPTY_HEADER; crate::config::plan::MAX_HEADERS_CAP];
    let mut parsed = httparse::Response::new(&mut fields);
    let len = match parsed.parse(input) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let code = parsed.code.ok_or(())?;
    let status = StatusCode::from_u16(code).map_err(|_| ())?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    let mut length = None;
    let mut chunked = false;
    for field in parsed.headers.iter() {
        let lower = field.name.to_ascii_lowercase();
        if lower == "transfer-encoding" {
            chunked = true;
        }
        if lower == "content-length" {
            length = std::str::from_utf8(field.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
        }
        if HOP_BY_HOP.contains(&lower.as_str()) {
            continue;
        }
        let name = HeaderName::from_bytes(lower.as_bytes()).map_err(|_| ())?;
        let value = HeaderValue::from_bytes(field.value).map_err(|_| ())?;
        response.headers_mut().append(name, value);
    }
    let no_body = head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = match (no_body, chunked, length) {
        (true, _, _) | (false, false, Some(0)) => Framing::Done,
        (false, true, _) => Framing::Chunked(Box::new(ChunkedReframer::decode_only())),
        (false, false, Some(n)) => Framing::Length(n),
        (false, false, None) => Framing::UntilEnd,
    };
    Ok(Some(Head {
        response,
        framing,
        len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_fields_are_dropped_and_framing_read() {
        let input = b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n5\r\nhello\r\n";
        let head = parse(input, false).unwrap().unwrap();
        assert_eq!(head.response.status(), 200);
        assert_eq!(head.response.headers().len(), 1);
        assert_eq!(head.response.headers()["x-a"], "b");
        assert!(matches!(head.framing, Framing::Chunked(_)));
        assert_eq!(&input[head.len..], b"5\r\nhello\r\n");
    }

    #[test]
    fn a_partial_head_waits_and_head_requests_have_no_body() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Le", false)
            .unwrap()
            .is_none());
        let head = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert!(matches!(head.framing, Framing::Done));
    }
}
