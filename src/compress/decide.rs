//! What is not compressed (the list, nginx's and HAProxy's rules):
//! HEAD, Range requests, upgrades and HTTP/1.0 clients, decided from the
//! request; 1xx, 204,
//! 206 and 304, bodies already encoded, `Cache-Control: no-transform`,
//! types not listed and known lengths under `min_length`, decided from
//! the response.

use httparse::Header;

use super::accept::choose;
use super::head::Change;
use super::policy::Policy;
use super::Ask;
use crate::http::headers::{has_token, list_tokens};
use crate::http::request::RequestHead;
use crate::http::response::ResponseHead;
use crate::http::{BodyKind, Version};

/// For a request on a route with `policy`: `None` when its response must
/// go out as it is whatever it turns out to be. An HTTP/1.0 client gets no
/// compressed body (nginx's `gzip_http_version 1.1`): it has no chunks, so
/// such a body, whose length isn't known up front, would end only with the
/// connection, and one cut short (an upstream that died, a file that
/// shrank) would look whole to it.
pub fn for_request(policy: &Policy, req: &RequestHead, upgrade: bool) -> Option<Ask> {
    let http10 = req.version == Version::Http10;
    if req.is_head() || upgrade || http10 || has_field(req.headers, "range") {
        return None;
    }
    Some(Ask {
        coding: choose(req.headers, &policy.codings),
    })
}

/// What happens to a proxied response's head; `None`: nothing.
pub fn for_response(policy: &Policy, ask: Ask, resp: &ResponseHead) -> Option<Change> {
    let length = match resp.body {
        BodyKind::None => return None,
        BodyKind::Length(n) => Some(n),
        BodyKind::Chunked | BodyKind::UntilClose => None,
    };
    if resp.keep_transfer_encoding || matches!(resp.status, 100..=199 | 204 | 206 | 304) {
        return None;
    }
    let fields = Fields::of(resp.headers);
    let content_type = fields.content_type?;
    let eligible = !fields.encoded
        && !fields.no_transform
        && !fields.content_range
        && length.is_none_or(|n| n >= policy.min_length)
        && policy.compresses_type(content_type);
    Change::new(eligible, ask.coding, fields.varies)
}

/// The response fields the decision reads, in one pass.
#[derive(Default)]
struct Fields<'b> {
    content_type: Option<&'b [u8]>,
    /// A Content-Encoding other than `identity`.
    encoded: bool,
    no_transform: bool,
    content_range: bool,
    /// A `Vary` already names Accept-Encoding (or `*`).
    varies: bool,
}

impl<'b> Fields<'b> {
    fn of(headers: &[Header<'b>]) -> Fields<'b> {
        let mut f = Fields::default();
        for field in headers {
            let is = |name: &str| field.name.eq_ignore_ascii_case(name);
            if is("content-type") {
                f.content_type = Some(field.value);
            } else if is("content-encoding") {
                f.encoded |= list_tokens(field.value).any(|c| !c.eq_ignore_ascii_case(b"identity"));
            } else if is("cache-control") {
                f.no_transform |= has_token(field.value, b"no-transform");
            } else if is("content-range") {
                f.content_range = true;
            } else if is("vary") {
                f.varies |=
                    has_token(field.value, b"accept-encoding") || has_token(field.value, b"*");
            }
        }
        f
    }
}

fn has_field(headers: &[Header], name: &str) -> bool {
    headers.iter().any(|f| f.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::policy::{Coding, TypePattern, DEFAULT_TYPES};

    fn policy() -> Policy {
        Policy {
            codings: vec![Coding::Gzip],
            types: DEFAULT_TYPES
                .iter()
                .filter_map(|t| TypePattern::parse(t))
                .collect(),
            min_length: 256,
            level: 1,
        }
    }

    fn decide(head: &str) -> Option<Change> {
        let mut fields = crate::http::request::field_slots::<16>();
        let resp = crate::http::response::parse(head.as_bytes(), &mut fields, false).expect("head");
        let ask = Ask {
            coding: Some(Coding::Gzip),
        };
        for_response(&policy(), ask, &resp)
    }

    #[test]
    fn a_listed_type_of_unknown_or_enough_length_is_compressed() {
        let chunked =
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(decide(chunked).and_then(|c| c.coding), Some(Coding::Gzip));
        let long = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 256\r\n\r\n";
        assert!(decide(long).is_some());
    }

    #[test]
    fn the_response_can_rule_it_out() {
        for head in [
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 255\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: 999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nCache-Control: public, no-transform\r\nContent-Length: 999\r\n\r\n",
            "HTTP/1.1 206 Partial Content\r\nContent-Type: text/html\r\nContent-Length: 999\r\n\r\n",
            "HTTP/1.1 204 No Content\r\nContent-Type: text/html\r\n\r\n",
            "HTTP/1.1 304 Not Modified\r\nContent-Type: text/html\r\n\r\n",
        ] {
            assert_eq!(decide(head), None, "{head}");
        }
    }
}
