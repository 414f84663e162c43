//! HTTP/1.1 header semantics shared by the origin and the clients:
//! body framing, connection persistence, upgrades. Parsing of the start line
//! and header block is httparse's job; this module only interprets it.

use httparse::Header;

/// Header block limit for both sides; bigger heads are rejected (431).
pub const MAX_HEAD: usize = 64 * 1024;
pub const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (or, for requests, an empty one).
    Empty,
    Length(u64),
    Chunked,
    /// Response bodies only: everything until the server closes.
    UntilClose,
}

/// What the origin needs to know about one request beyond its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    pub keep_alive: bool,
    pub http10: bool,
    pub framing: Framing,
    pub expect_continue: bool,
    pub websocket_key: Option<String>,
}

fn header<'h>(headers: &'h [Header<'_>], name: &str) -> impl Iterator<Item = &'h [u8]> + 'h {
    let name = name.to_string();
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(&name))
        .map(|h| h.value)
}

/// True if any comma-separated token of any `name` header equals `token`.
pub fn has_token(headers: &[Header<'_>], name: &str, token: &str) -> bool {
    header(headers, name).any(|v| {
        v.split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

pub fn header_str<'h>(headers: &'h [Header<'_>], name: &str) -> Option<&'h str> {
    header(headers, name)
        .next()
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// Body framing from Transfer-Encoding / Content-Length (RFC 9112 §6.3).
/// Ambiguous framing is an error, never a guess: that is how request
/// smuggling starts, and a test origin should flag it rather than absorb it.
pub fn body_framing(headers: &[Header<'_>], is_response: bool) -> Result<Framing, &'static str> {
    let te: Vec<&[u8]> = header(headers, "transfer-encoding").collect();
    let cl: Vec<&[u8]> = header(headers, "content-length").collect();
    if !te.is_empty() {
        if !cl.is_empty() {
            return Err("both Transfer-Encoding and Content-Length");
        }
        let last = te.iter().flat_map(|v| v.split(|&b| b == b',')).last();
        return match last.map(|t| t.trim_ascii()) {
            Some(t) if t.eq_ignore_ascii_case(b"chunked") => Ok(Framing::Chunked),
            _ if is_response => Ok(Framing::UntilClose),
            _ => Err("unsupported Transfer-Encoding"),
        };
    }
    let mut length = None;
    for v in cl {
        let n = parse_content_length(v).ok_or("bad Content-Length")?;
        if length.is_some_and(|l| l != n) {
            return Err("conflicting Content-Length");
        }
        length = Some(n);
    }
    Ok(match length {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None if is_response => Framing::UntilClose,
        None => Framing::Empty,
    })
}

fn parse_content_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Interprets a parsed request's headers.
pub fn request_info(req: &httparse::Request<'_, '_>) -> Result<RequestInfo, &'static str> {
    let headers = &*req.headers;
    let http10 = req.version == Some(0);
    // HTTP/1.0 closes unless asked to stay; HTTP/1.1 stays unless asked to close.
    let keep_alive = if http10 {
        has_token(headers, "connection", "keep-alive")
    } else {
        !has_token(headers, "connection", "close")
    };
    let upgrade =
        has_token(headers, "connection", "upgrade") && has_token(headers, "upgrade", "websocket");
    Ok(RequestInfo {
        keep_alive,
        http10,
        framing: body_framing(headers, false)?,
        expect_continue: !http10 && has_token(headers, "expect", "100-continue"),
        websocket_key: upgrade
            .then(|| header_str(headers, "sec-websocket-key").map(str::to_string))
            .flatten(),
    })
}

/// Status, framing and persistence of a parsed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseInfo {
    pub status: u16,
    pub framing: Framing,
    pub close: bool,
}

pub fn response_info(
    res: &httparse::Response<'_, '_>,
    head_request: bool,
) -> Result<ResponseInfo, &'static str> {
    let status = res.code.ok_or("no status")?;
    let headers = &*res.headers;
    // 1xx, 204 and 304 never have a body, nor does a response to HEAD.
    let bodyless = head_request || status < 200 || status == 204 || status == 304;
    let framing = if bodyless {
        Framing::Empty
    } else {
        body_framing(headers, true)?
    };
    let close = has_token(headers, "connection", "close")
        || (res.version == Some(0) && !has_token(headers, "connection", "keep-alive"));
    Ok(ResponseInfo {
        status,
        framing,
        close,
    })
}

/// Splits `/path?query` and finds `name=value` in the query.
pub fn query_param<'a>(target: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = target.split_once('?')?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(raw: &[u8]) -> Result<RequestInfo, &'static str> {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        assert!(req.parse(raw).unwrap().is_complete());
        request_info(&req)
    }

    #[test]
    fn keep_alive_rules() {
        assert!(info(b"GET / HTTP/1.1\r\n\r\n").unwrap().keep_alive);
        assert!(
            !info(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")
                .unwrap()
                .keep_alive
        );
        assert!(!info(b"GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        let ka10 = info(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(ka10.keep_alive && ka10.http10);
    }

    #[test]
    fn framing_rules() {
        let f = |raw: &[u8]| info(raw).map(|i| i.framing);
        assert_eq!(
            f(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            Ok(Framing::Length(5))
        );
        assert_eq!(
            f(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Ok(Framing::Chunked)
        );
        assert_eq!(f(b"GET / HTTP/1.1\r\n\r\n"), Ok(Framing::Empty));
        assert!(f(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").is_err());
        assert!(f(b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n").is_err());
        assert!(
            f(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n")
                .is_err()
        );
        assert!(f(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").is_err());
        // Repeated identical lengths are tolerated (RFC 9112 §6.3).
        assert_eq!(
            f(b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n").ok(),
            None
        );
        assert_eq!(
            f(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"),
            Ok(Framing::Length(5))
        );
    }

    #[test]
    fn websocket_and_expect() {
        let i = info(b"GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: abc\r\nExpect: 100-continue\r\n\r\n").unwrap();
        assert_eq!(i.websocket_key.as_deref(), Some("abc"));
        assert!(i.expect_continue);
        assert_eq!(
            info(b"GET /ws HTTP/1.1\r\nSec-WebSocket-Key: abc\r\n\r\n")
                .unwrap()
                .websocket_key,
            None
        );
    }

    #[test]
    fn response_rules() {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut res = httparse::Response::new(&mut headers);
        res.parse(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n")
            .unwrap();
        assert_eq!(response_info(&res, false).unwrap().framing, Framing::Empty);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut res = httparse::Response::new(&mut headers);
        res.parse(b"HTTP/1.0 200 OK\r\n\r\n").unwrap();
        let r = response_info(&res, false).unwrap();
        assert_eq!((r.framing, r.close), (Framing::UntilClose, true));
    }

    #[test]
    fn query_params() {
        assert_eq!(query_param("/poll/a?x=1&timeout=5", "timeout"), Some("5"));
        assert_eq!(query_param("/poll/a", "timeout"), None);
    }
}
