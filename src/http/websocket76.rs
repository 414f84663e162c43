//! The WebSocket handshake of draft-76 (hixie-76), which seed 002's
//! applications speak: after the head the client sends 8 key bytes with no
//! Content-Length, and the server answers 101 (and 16 bytes) only after it
//! has read them. Forwarding the head alone and waiting for the 101 would
//! leave both sides waiting, so those 8 bytes are framed as the request's
//! body: they go upstream with the head, and nothing past them does until
//! the 101 opens the tunnel.

use httparse::Header;

use super::request::RequestHead;
use super::BodyKind;

/// The key bytes that follow a draft-76 handshake's head.
pub const KEY_BYTES: u64 = 8;

/// The body of `req` as it is to be forwarded: a draft-76 handshake (an
/// upgrade to `WebSocket` with `Sec-WebSocket-Key1` and `-Key2` and no body
/// framing of its own) carries its 8 key bytes; anything else is as parsed.
pub fn body(req: &RequestHead) -> BodyKind {
    if req.upgrade && req.body == BodyKind::None && is_handshake(req.headers) {
        BodyKind::Length(KEY_BYTES)
    } else {
        req.body
    }
}

fn is_handshake(headers: &[Header]) -> bool {
    let has = |name: &str| headers.iter().any(|h| h.name.eq_ignore_ascii_case(name));
    let websocket = headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("upgrade") && h.value.eq_ignore_ascii_case(b"websocket")
    });
    websocket && has("sec-websocket-key1") && has("sec-websocket-key2")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request;
    use crate::http::Limits;

    fn body_of(head: &[u8]) -> BodyKind {
        let limits = Limits {
            max_head_bytes: 8192,
            max_request_line_bytes: 1024,
            max_headers: 32,
        };
        let mut fields = request::field_slots::<32>();
        let req = request::parse(head, &mut fields, &limits).expect("parses");
        body(&req)
    }

    #[test]
    fn a_draft76_handshake_carries_eight_bytes() {
        let head = b"GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nSec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\r\n";
        assert_eq!(body_of(head), BodyKind::Length(8));
    }

    #[test]
    fn rfc6455_and_plain_requests_are_as_parsed() {
        let rfc = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        assert_eq!(body_of(rfc), BodyKind::None);
        let no_upgrade =
            b"GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key1: 1\r\nSec-WebSocket-Key2: 2\r\n\r\n";
        assert_eq!(body_of(no_upgrade), BodyKind::None);
        let framed = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key1: 1\r\nSec-WebSocket-Key2: 2\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(body_of(framed), BodyKind::Length(3));
    }
}
