//! An HTTP/2 request as the HTTP/1.1 head the rest of tern reads.
//!
//! Every stream goes through the same `prepare` (parse, route, limits,
//! the upstream head) as an HTTP/1.1 request, so its pseudo-headers become
//! a request line and a Host field (RFC 9113 §8.3.1): `:authority` wins,
//! and a Host that disagrees with it is refused. The `h2` crate has
//! already refused connection-specific fields and any `te` but `trailers`
//! (§8.2.2) and checked the pseudo-headers (§8.3); cookies split over
//! several fields are joined with `; ` (§8.2.3). A body whose length the
//! client didn't announce is read as chunked (the HTTP/1.1 framing the
//! exchange relays); header values can't carry CR or LF (the `http` crate
//! refuses them), so the written head can't be split.

use ::http::request::Parts;
use ::http::{header, Method};

/// How the request body reaches the exchange.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BodyFraming {
    /// No body (END_STREAM came with the head).
    None,
    /// `content-length` was given: DATA passes as is.
    Length,
    /// Length unknown: DATA passes as HTTP/1.1 chunks.
    Chunked,
}

/// Why a stream's head is refused (answered as a stream error or a 400).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Host and `:authority` disagree: malformed (§8.3.1), a stream error.
    HostConflict,
    /// Neither Host nor `:authority`: 400.
    NoHost,
    /// A method tern doesn't carry over HTTP/2 (CONNECT): 501.
    Method,
}

/// Writes the HTTP/1.1 head of `parts` into `out`.
pub fn write_head(
    parts: &Parts,
    end_stream: bool,
    out: &mut Vec<u8>,
) -> Result<BodyFraming, Refused> {
    if parts.method == Method::CONNECT {
        return Err(Refused::Method);
    }
    let authority = parts.uri.authority().map(|a| a.as_str().as_bytes());
    let host = match (authority, parts.headers.get(header::HOST)) {
        (Some(authority), Some(host)) if host.as_bytes() != authority => {
            return Err(Refused::HostConflict)
        }
        (Some(authority), _) => authority,
        (None, Some(host)) => host.as_bytes(),
        (None, None) => return Err(Refused::NoHost),
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host);
    out.extend_from_slice(b"\r\n");
    let mut cookies = 0;
    for (name, value) in &parts.headers {
        if name == header::HOST || name == header::COOKIE {
            continue;
        }
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    for value in parts.headers.get_all(header::COOKIE) {
        out.extend_from_slice(if cookies == 0 { b"cookie: " } else { b"; " });
        out.extend_from_slice(value.as_bytes());
        cookies += 1;
    }
    if cookies > 0 {
        out.extend_from_slice(b"\r\n");
    }
    let framing = if end_stream {
        BodyFraming::None
    } else if parts.headers.contains_key(header::CONTENT_LENGTH) {
        BodyFraming::Length
    } else {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        BodyFraming::Chunked
    };
    out.extend_from_slice(b"\r\n");
    Ok(framing)
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(req: ::http::Request<()>, end: bool) -> (Result<BodyFraming, Refused>, String) {
        let (parts, ()) = req.into_parts();
        let mut out = Vec::new();
        let framing = write_head(&parts, end, &mut out);
        (framing, String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn authority_becomes_host_and_cookies_join() {
        let req = ::http::Request::builder()
            .uri("https://example.com/a?b=1")
            .header("cookie", "a=1")
            .header("x-y", "z")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        let (framing, text) = head(req, true);
        assert_eq!(framing, Ok(BodyFraming::None));
        assert_eq!(
            text,
            "GET /a?b=1 HTTP/1.1\r\nhost: example.com\r\nx-y: z\r\ncookie: a=1; b=2\r\n\r\n"
        );
    }

    #[test]
    fn a_conflicting_host_is_refused() {
        let req = ::http::Request::builder()
            .uri("https://example.com/")
            .header("host", "other.example")
            .body(())
            .unwrap();
        assert_eq!(head(req, true).0, Err(Refused::HostConflict));
    }

    #[test]
    fn an_unannounced_body_goes_chunked() {
        let req = ::http::Request::builder()
            .method("POST")
            .uri("https://example.com/")
            .body(())
            .unwrap();
        let (framing, text) = head(req, false);
        assert_eq!(framing, Ok(BodyFraming::Chunked));
        assert!(text.ends_with("transfer-encoding: chunked\r\n\r\n"));
    }
}
