//! An HTTP/2 request as the HTTP/1.1 head the rest of tern reads.
//!
//! Every stream goes through the same `prepare` (parse, route, limits,
//! the upstream head) as an HTTP/1.1 request, so its pseudo-headers become
//! a request line and a Host field (RFC 9113 §8.3.1): `:authority` wins,
//! and a Host that disagrees with it is refused. The `h2` crate has
//! already refused connection-specific fields and any `te` but `trailers`
//! (§8.2.2) and checked the pseudo-headers (§8.3); a value padded with
//! a space or tab, which it lets through, is malformed here (§8.2.1), a
//! reset stream as a Host that contradicts `:authority` is; cookies split over
//! several fields are joined with `; ` (§8.2.3). A body whose length the
//! client didn't announce is read as chunked (the HTTP/1.1 framing the
//! exchange relays); header values can't carry CR or LF (the `http` crate
//! refuses them), so the written head can't be split.
//!
//! A WebSocket over HTTP/2 (RFC 8441: CONNECT with `:protocol websocket`)
//! becomes the HTTP/1.1 Upgrade request a WebSocket upstream expects
//! (RFC 8441 §5): GET with `Upgrade: websocket`, `Connection: Upgrade` and
//! a fresh `Sec-WebSocket-Key`.

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
    /// A WebSocket (extended CONNECT): DATA flows through the tunnel once
    /// the upstream has switched protocols.
    Tunnel,
}

/// Why a stream's head is refused (answered as a stream error or a 400).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Host and `:authority` disagree: malformed (§8.3.1), a stream error.
    HostConflict,
    /// A field value that starts or ends with a space or tab: malformed
    /// (§8.2.1), a stream error. Over HTTP/1.1 the whitespace is the
    /// field's padding; passed on, it could make a value read two ways.
    PaddedValue,
    /// Neither Host nor `:authority`: 400.
    NoHost,
    /// A method tern doesn't carry over HTTP/2 (CONNECT other than a
    /// WebSocket): 501.
    Method,
    /// A method tern refuses whatever the protocol (TRACE,
    /// `http::request::is_refused_method`): 405.
    RefusedMethod,
}

/// Whether `value` starts or ends with a space or a tab.
fn is_padded(value: &[u8]) -> bool {
    let padding = |b: &u8| matches!(b, b' ' | b'\t');
    value.first().is_some_and(padding) || value.last().is_some_and(padding)
}

/// Writes the HTTP/1.1 head of `parts` into `out`.
pub fn write_head(
    parts: &Parts,
    end_stream: bool,
    out: &mut Vec<u8>,
) -> Result<BodyFraming, Refused> {
    let websocket = parts.method == Method::CONNECT
        && parts
            .extensions
            .get::<h2::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"));
    if parts.method == Method::CONNECT && !websocket {
        return Err(Refused::Method);
    }
    if !websocket && crate::http::request::is_refused_method(parts.method.as_str()) {
        return Err(Refused::RefusedMethod);
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
    let method = if websocket {
        "GET"
    } else {
        parts.method.as_str()
    };
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(host);
    out.extend_from_slice(b"\r\n");
    if parts
        .headers
        .values()
        .any(|value| is_padded(value.as_bytes()))
    {
        return Err(Refused::PaddedValue);
    }
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
    let framing = if websocket {
        out.extend_from_slice(b"connection: upgrade\r\nupgrade: websocket\r\n");
        field(out, b"sec-websocket-key", &websocket_key());
        BodyFraming::Tunnel
    } else if end_stream {
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

/// 16 random bytes in base64 (RFC 6455 §4.1): the key an HTTP/1.1
/// WebSocket upstream answers; HTTP/2 clients send none.
fn websocket_key() -> [u8; 24] {
    use std::hash::{BuildHasher, Hasher};
    // std's per-process random keys; a nonce, not a secret.
    let random = |salt: u64| {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(salt);
        hasher.finish()
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&random(1).to_le_bytes());
    bytes[8..].copy_from_slice(&random(2).to_le_bytes());
    base64_16(&bytes)
}

fn base64_16(bytes: &[u8; 16]) -> [u8; 24] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = [b'='; 24];
    for (i, group) in bytes.chunks(3).enumerate() {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (k, b)| n | u32::from(*b) << (16 - 8 * k));
        let chars = group.len() + 1;
        for k in 0..chars {
            out[i * 4 + k] = ALPHABET[(n >> (18 - 6 * k) & 63) as usize];
        }
    }
    out
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
    fn base64_of_16_bytes() {
        // RFC 6455 §1.3's example nonce.
        assert_eq!(&base64_16(b"the sample nonce"), b"dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn a_websocket_connect_becomes_an_upgrade() {
        let mut req = ::http::Request::builder()
            .method("CONNECT")
            .uri("https://example.com/chat")
            .header("sec-websocket-version", "13")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(h2::ext::Protocol::from_static("websocket"));
        let (framing, text) = head(req, false);
        assert_eq!(framing, Ok(BodyFraming::Tunnel));
        assert!(
            text.starts_with("GET /chat HTTP/1.1\r\nhost: example.com\r\n"),
            "{text}"
        );
        assert!(text.contains("connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: "));
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
    fn a_value_with_leading_or_trailing_whitespace_is_malformed() {
        for value in [" b", "b ", "\tb", "b\t", " b "] {
            let req = ::http::Request::builder()
                .uri("https://example.com/")
                .header("x-a", value)
                .body(())
                .unwrap();
            assert_eq!(head(req, true).0, Err(Refused::PaddedValue), "{value:?}");
        }
        let inner = ::http::Request::builder()
            .uri("https://example.com/")
            .header("x-a", "b c")
            .body(())
            .unwrap();
        assert!(head(inner, true).0.is_ok());
    }

    #[test]
    fn trace_is_refused_with_405() {
        let req = ::http::Request::builder()
            .method("TRACE")
            .uri("https://example.com/")
            .body(())
            .unwrap();
        assert_eq!(head(req, true).0, Err(Refused::RefusedMethod));
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
