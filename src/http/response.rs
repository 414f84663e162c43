//! Upstream response heads, held to the same framing rules as requests
//! (RFC 9112 §6.3): anything ambiguous is refused, never relayed.

use std::mem::MaybeUninit;

use httparse::{Header, ParserConfig, Status};

use super::headers::{classify, has_token, list_tokens, ContentLength, FieldKind};
use super::{BodyKind, Version};

#[derive(Debug)]
pub struct ResponseHead<'b, 'h> {
    pub status: u16,
    pub version: Version,
    /// The status line after the version: "200 OK".
    pub status_text: &'b [u8],
    pub body: BodyKind,
    /// Transfer codings besides chunked were applied: forward the
    /// Transfer-Encoding fields as they are instead of a plain `chunked`.
    pub keep_transfer_encoding: bool,
    /// The upstream allows reusing its connection after this response.
    pub reusable: bool,
    pub has_connection_field: bool,
    pub headers: &'h [Header<'b>],
}

impl ResponseHead<'_, '_> {
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// Why a response head was refused; the client gets 502 either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadResponse(pub &'static str);

pub fn parse<'b, 'h>(
    head: &'b [u8],
    headers: &'h mut [MaybeUninit<Header<'b>>],
    request_is_head: bool,
) -> Result<ResponseHead<'b, 'h>, BadResponse> {
    let mut response = httparse::Response::new(&mut []);
    match ParserConfig::default().parse_response_with_uninit_headers(&mut response, head, headers) {
        Ok(Status::Complete(_)) => {}
        Ok(Status::Partial) => return Err(BadResponse("incomplete response head")),
        Err(httparse::Error::TooManyHeaders) => return Err(BadResponse("too many header fields")),
        Err(_) => return Err(BadResponse("malformed response head")),
    }
    let status = response.code.unwrap_or_default();
    if !(100..=599).contains(&status) {
        return Err(BadResponse("status code out of range"));
    }
    let version = match response.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let line_end = memchr::memchr(b'\r', head).unwrap_or(head.len());
    let status_text = head.get("HTTP/1.1 ".len()..line_end).unwrap_or_default();
    let fields = ResponseFields::collect(response.headers)?;
    let body = fields.body(status, request_is_head)?;
    // An HTTP/1.0 message with Transfer-Encoding has faulty framing: read
    // as it says, then the connection closes (RFC 9112 §6.1).
    let reusable = body != BodyKind::UntilClose
        && match version {
            Version::Http11 => !fields.connection_close,
            Version::Http10 => {
                fields.connection_keep_alive
                    && !fields.connection_close
                    && !fields.has_transfer_encoding
            }
        };
    Ok(ResponseHead {
        status,
        version,
        status_text,
        body,
        keep_transfer_encoding: fields.other_codings,
        reusable,
        has_connection_field: fields.has_connection,
        headers: response.headers,
    })
}

#[derive(Default)]
struct ResponseFields {
    content_length: ContentLength,
    has_content_length: bool,
    has_transfer_encoding: bool,
    chunked_last: bool,
    other_codings: bool,
    chunked_count: usize,
    has_connection: bool,
    connection_close: bool,
    connection_keep_alive: bool,
}

impl ResponseFields {
    fn collect(headers: &[Header]) -> Result<Self, BadResponse> {
        let mut f = ResponseFields::default();
        for field in headers {
            match classify(field.name.as_bytes()) {
                FieldKind::ContentLength => {
                    f.has_content_length = true;
                    f.content_length
                        .add(field.value)
                        .map_err(|_| BadResponse("invalid Content-Length"))?;
                }
                FieldKind::TransferEncoding => {
                    f.has_transfer_encoding = true;
                    for coding in list_tokens(field.value) {
                        let chunked = coding.eq_ignore_ascii_case(b"chunked");
                        f.chunked_count += usize::from(chunked);
                        f.other_codings |= !chunked;
                        f.chunked_last = chunked;
                    }
                }
                FieldKind::Connection => {
                    f.has_connection = true;
                    f.connection_close |= has_token(field.value, b"close");
                    f.connection_keep_alive |= has_token(field.value, b"keep-alive");
                }
                _ => {}
            }
        }
        Ok(f)
    }

    fn body(&self, status: u16, request_is_head: bool) -> Result<BodyKind, BadResponse> {
        if self.has_transfer_encoding && self.has_content_length {
            return Err(BadResponse("both Content-Length and Transfer-Encoding"));
        }
        if request_is_head || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(BodyKind::None);
        }
        if self.has_transfer_encoding {
            if !self.chunked_last || self.chunked_count != 1 {
                return Err(BadResponse("Transfer-Encoding without a final chunked"));
            }
            return Ok(BodyKind::Chunked);
        }
        match self.content_length.get() {
            Some(n) => Ok(BodyKind::Length(n)),
            None => Ok(BodyKind::UntilClose),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_head(head: &[u8], is_head: bool) -> Result<(u16, BodyKind, bool), BadResponse> {
        let mut headers = crate::http::request::field_slots::<32>();
        parse(head, &mut headers, is_head).map(|r| (r.status, r.body, r.reusable))
    }

    #[test]
    fn frames_by_length_chunked_or_close() {
        let cl = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false);
        assert_eq!(cl, Ok((200, BodyKind::Length(5), true)));
        let chunked = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
        );
        assert_eq!(chunked, Ok((200, BodyKind::Chunked, true)));
        let close = parse_head(b"HTTP/1.1 200 OK\r\n\r\n", false);
        assert_eq!(close, Ok((200, BodyKind::UntilClose, false)));
    }

    #[test]
    fn no_body_for_head_1xx_204_304() {
        let cl = b"Content-Length: 10\r\n\r\n";
        for (line, is_head) in [
            (&b"HTTP/1.1 200 OK\r\n"[..], true),
            (b"HTTP/1.1 204 No Content\r\n", false),
            (b"HTTP/1.1 304 Not Modified\r\n", false),
            (b"HTTP/1.1 103 Early Hints\r\n", false),
        ] {
            let head = [line, &cl[..]].concat();
            assert_eq!(parse_head(&head, is_head).map(|r| r.1), Ok(BodyKind::None));
        }
    }

    #[test]
    fn refuses_ambiguous_framing() {
        for head in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(
                parse_head(head, false).is_err(),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn http10_upstream_is_reused_only_when_it_says_keep_alive() {
        let plain = parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false);
        assert_eq!(plain.map(|r| r.2), Ok(false));
        let ka = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n";
        assert_eq!(parse_head(ka, false).map(|r| r.2), Ok(true));
    }

    #[test]
    fn an_http10_response_with_transfer_encoding_ends_its_connection() {
        let head =
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse_head(head, false), Ok((200, BodyKind::Chunked, false)));
    }
}
