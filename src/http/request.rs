//! Request heads: parsed in place with httparse, then held to RFC 9112's
//! framing rules before a byte of them is forwarded.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use httparse::{Header, Status};

use super::headers::{classify, has_token, ContentLength, FieldKind};
use super::{BodyKind, Persist, Version};
use crate::http::Limits;

/// The largest request body tern reads and drops when it answers a request
/// itself (a `respond`, `redirect` or `static` route, no route, a rate
/// limit), so that the connection carries the next request (a beacon's
/// POST; nginx discards such bodies too). A larger one ends the connection:
/// reading it costs more than the client's new connection would.
pub const DROPPABLE_BODY_MAX: u64 = 64 * 1024;

/// A parsed, validated request head. Everything borrows the read buffer.
#[derive(Debug)]
pub struct RequestHead<'b, 'h> {
    pub method: &'b str,
    pub version: Version,
    /// The request target in origin-form (for absolute-form, the part after
    /// the authority; may be empty or start with '?').
    pub origin_target: &'b [u8],
    /// Authority of an absolute-form target; it replaces Host upstream.
    pub target_authority: Option<&'b [u8]>,
    /// The target's path in canonical form (`http::path`), what routes
    /// match and rewrite; borrowed from the target when it already is.
    pub canonical_path: Cow<'b, [u8]>,
    /// The effective host: target authority, else the Host field, else empty.
    pub host: &'b [u8],
    pub body: BodyKind,
    /// The client asked to keep the connection open after this exchange.
    pub keep_alive: bool,
    /// `Upgrade` + `Connection: upgrade` on HTTP/1.1.
    pub upgrade: bool,
    pub expect_continue: bool,
    /// A `Connection` field is present, so fields it names must be dropped.
    pub has_connection_field: bool,
    /// A Host field was sent (possibly empty).
    pub has_host_field: bool,
    pub headers: &'h [Header<'b>],
}

impl RequestHead<'_, '_> {
    /// The path of the target, without the query and in canonical form
    /// (`http::path`): what routing looks at.
    pub fn path(&self) -> &[u8] {
        &self.canonical_path
    }

    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// Whether a server answering without the body may read and drop it
    /// instead of closing the connection: one of at most
    /// `DROPPABLE_BODY_MAX` bytes, or a chunked one (dropped while it stays
    /// under that). A client that waits for a `100 Continue` before sending
    /// it is sent one first (`UnreadBody`), as nginx does.
    pub fn body_droppable(&self) -> bool {
        match self.body {
            BodyKind::Length(len) => len <= DROPPABLE_BODY_MAX,
            BodyKind::Chunked | BodyKind::None => true,
            BodyKind::UntilClose => false,
        }
    }

    /// What a response tern writes itself says about the connection: kept
    /// when the client asked for it and the body, if any, can be dropped.
    pub fn persist(&self) -> Persist {
        match (self.keep_alive && self.body_droppable(), self.version) {
            (false, _) => Persist::Close,
            (true, Version::Http10) => Persist::KeepAliveHttp10,
            (true, Version::Http11) => Persist::KeepAlive,
        }
    }

    /// Safe to send twice (RFC 9110 §9.2.2).
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self.method,
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        )
    }
}

/// Why a request head was refused; each maps to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    BadRequest(&'static str),
    /// 414
    UriTooLong,
    /// 431
    HeadTooLarge,
    /// 501: a transfer coding tern does not implement.
    NotImplemented,
    /// 505
    VersionNotSupported,
    /// 405: a method tern refuses to carry (`is_refused_method`).
    MethodNotAllowed,
}

/// Slots for the parsed fields. Uninitialised, because initialising a few
/// kilobytes of empty headers per request showed up in profiles.
pub fn field_slots<'b, const N: usize>() -> [MaybeUninit<Header<'b>>; N] {
    [const { MaybeUninit::uninit() }; N]
}

/// Parses `head` (exactly the head, ending with the empty line, line endings
/// already proven clean by `scan`) into `headers`.
pub fn parse<'b, 'h>(
    head: &'b [u8],
    headers: &'h mut [MaybeUninit<Header<'b>>],
    limits: &Limits,
) -> Result<RequestHead<'b, 'h>, RequestError> {
    let field_slots = limits.max_headers.min(headers.len());
    let mut request = httparse::Request::new(&mut []);
    match request.parse_with_uninit_headers(head, &mut headers[..field_slots]) {
        Ok(Status::Complete(_)) => {}
        Ok(Status::Partial) => return Err(RequestError::BadRequest("incomplete head")),
        Err(httparse::Error::TooManyHeaders) => return Err(RequestError::HeadTooLarge),
        Err(httparse::Error::Version) => return Err(version_error(head)),
        Err(_) => return Err(RequestError::BadRequest("malformed request head")),
    }
    let method = request.method.unwrap_or_default();
    let target = request.path.unwrap_or_default().as_bytes();
    let version = match request.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    if is_refused_method(method) {
        return Err(RequestError::MethodNotAllowed);
    }
    let fields = FieldSummary::collect(request.headers, version)?;
    let (origin_target, target_authority) = split_target(method, target)?;
    let canonical_path =
        super::path::canonical(raw_path(origin_target)).map_err(RequestError::BadRequest)?;
    let host = match target_authority {
        Some(authority) => authority,
        None => fields.host.unwrap_or_default(),
    };
    if version == Version::Http11 && fields.host_count == 0 {
        return Err(RequestError::BadRequest("HTTP/1.1 request without Host"));
    }
    Ok(RequestHead {
        method,
        version,
        origin_target,
        target_authority,
        canonical_path,
        host,
        body: fields.body()?,
        keep_alive: fields.keep_alive(version),
        upgrade: version == Version::Http11 && fields.upgrade && fields.connection_upgrade,
        expect_continue: fields.expect_continue,
        has_connection_field: fields.connection_count > 0,
        has_host_field: fields.host_count > 0,
        headers: request.headers,
    })
}

/// httparse refuses anything but HTTP/1.0 and 1.1. A well-formed other
/// version deserves 505; anything else is a bad request.
fn version_error(head: &[u8]) -> RequestError {
    let line_end = memchr::memchr(b'\r', head).unwrap_or(head.len());
    let parts: Vec<&[u8]> = head[..line_end].split(|&b| b == b' ').collect();
    match parts[..] {
        // Only a well-formed line (method SP target SP version) names a version.
        [_, _, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            RequestError::VersionNotSupported
        }
        _ => RequestError::BadRequest("malformed request line"),
    }
}

/// Methods tern answers with 405 itself, as nginx does: CONNECT (its
/// authority-form target asks for a tunnel; tern is no forward proxy) and
/// TRACE, whose echo of the request as the application received it would
/// show a page's script the cookies and credentials it can't read, and the
/// fields tern adds (Cross-Site Tracing).
pub fn is_refused_method(method: &str) -> bool {
    matches!(method, "CONNECT" | "TRACE")
}

/// Splits the target into origin-form and, for absolute-form, its authority
/// (RFC 9112 §3.2).
fn split_target<'b>(
    method: &str,
    target: &'b [u8],
) -> Result<(&'b [u8], Option<&'b [u8]>), RequestError> {
    if target.starts_with(b"/") || (target == b"*" && method == "OPTIONS") {
        return Ok((target, None));
    }
    let rest = strip_prefix_ignore_case(target, b"http://")
        .or_else(|| strip_prefix_ignore_case(target, b"https://"))
        .ok_or(RequestError::BadRequest("unsupported request target"))?;
    let authority_end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.is_empty() || !is_valid_host(authority) {
        return Err(RequestError::BadRequest(
            "invalid authority in request target",
        ));
    }
    Ok((&rest[authority_end..], Some(authority)))
}

/// The target up to its query (`/` for an empty one), fragment included so
/// that `path::canonical` refuses it wherever it is.
fn raw_path(origin_target: &[u8]) -> &[u8] {
    let end = match memchr::memchr(b'#', origin_target) {
        Some(_) => origin_target.len(),
        None => memchr::memchr(b'?', origin_target).unwrap_or(origin_target.len()),
    };
    match &origin_target[..end] {
        b"" => b"/",
        path => path,
    }
}

fn strip_prefix_ignore_case<'b>(bytes: &'b [u8], prefix: &[u8]) -> Option<&'b [u8]> {
    let head = bytes.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &bytes[prefix.len()..])
}

/// A Host value or authority: RFC 3986 `host [ ":" port ]`, stricter where
/// strictness costs no real client anything. A host that routing and the
/// application could read differently must be a 400 (RFC 9112 §3.2): a
/// port that isn't a port, a bracketed literal that isn't an address, an
/// escape (`a%00b`), an empty label (`internal.example..`). Empty is valid
/// (a Host field may be; an authority is checked for that apart).
fn is_valid_host(host: &[u8]) -> bool {
    let (name_ok, port) = match host.strip_prefix(b"[") {
        Some(bracketed) => match memchr::memchr(b']', bracketed) {
            Some(end) => (is_ip_literal(&bracketed[..end]), &bracketed[end + 1..]),
            None => return false,
        },
        None => match memchr::memchr(b':', host) {
            Some(colon) => (is_reg_name(&host[..colon]), &host[colon..]),
            None => (is_reg_name(host), &b""[..]),
        },
    };
    name_ok && is_port(port)
}

/// IPv6 (or IPv4-mapped) address characters between the brackets.
fn is_ip_literal(literal: &[u8]) -> bool {
    !literal.is_empty()
        && literal
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

/// A name or IPv4 address: unreserved and sub-delim characters, no escapes,
/// no empty label but a last (an absolute name's trailing dot). Not `,` nor
/// `;`, which RFC 3986 allows but no DNS name has: the Host goes upstream in
/// `X-Forwarded-Host`, a list by custom, where `admin.example,x` is
/// `admin.example` to an application that takes the first element, and
/// `;` separates `Forwarded`'s parameters.
fn is_reg_name(name: &[u8]) -> bool {
    let allowed = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b'='
            )
    };
    name.iter().all(|&b| allowed(b))
        && !name.windows(2).any(|pair| pair == b"..")
        && !name.starts_with(b".")
}

/// Nothing, or `:` and at most five digits up to 65535 (`:` alone is valid).
fn is_port(port: &[u8]) -> bool {
    let Some(digits) = port.strip_prefix(b":") else {
        return port.is_empty();
    };
    digits.len() <= 5
        && digits.iter().all(u8::is_ascii_digit)
        && digits
            .iter()
            .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
            <= 65535
}

/// What the header fields say about framing and the connection.
#[derive(Default)]
struct FieldSummary<'b> {
    host: Option<&'b [u8]>,
    host_count: usize,
    content_length: ContentLength,
    has_content_length: bool,
    transfer_encoding: TransferCoding,
    connection_count: usize,
    connection_close: bool,
    connection_keep_alive: bool,
    connection_upgrade: bool,
    upgrade: bool,
    expect_continue: bool,
}

/// The Transfer-Encoding fields seen so far.
#[derive(Default, PartialEq, Eq)]
enum TransferCoding {
    #[default]
    Absent,
    Chunked,
    /// Codings tern does not implement, or chunked not last: 501.
    Unsupported,
    /// chunked applied twice: 400.
    Invalid,
}

impl<'b> FieldSummary<'b> {
    fn collect(headers: &[Header<'b>], version: Version) -> Result<Self, RequestError> {
        let mut s = FieldSummary::default();
        for field in headers {
            let value = field.value;
            match classify(field.name.as_bytes()) {
                FieldKind::Host => {
                    if !is_valid_host(value) {
                        return Err(RequestError::BadRequest("invalid Host"));
                    }
                    s.host_count += 1;
                    if s.host_count > 1 {
                        return Err(RequestError::BadRequest("more than one Host"));
                    }
                    s.host = Some(value);
                }
                FieldKind::ContentLength => {
                    s.has_content_length = true;
                    s.content_length
                        .add(value)
                        .map_err(|_| RequestError::BadRequest("invalid Content-Length"))?;
                }
                FieldKind::TransferEncoding => s.add_transfer_encoding(value),
                FieldKind::Connection => {
                    s.connection_count += 1;
                    s.connection_close |= has_token(value, b"close");
                    s.connection_keep_alive |= has_token(value, b"keep-alive");
                    s.connection_upgrade |= has_token(value, b"upgrade");
                }
                FieldKind::Upgrade => s.upgrade = true,
                FieldKind::Expect => {
                    s.expect_continue |= version == Version::Http11
                        && value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
                }
                _ => {}
            }
        }
        if s.transfer_encoding != TransferCoding::Absent && version == Version::Http10 {
            return Err(RequestError::BadRequest(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        Ok(s)
    }

    /// A field that names no coding (empty, or only commas: `Transfer-
    /// Encoding: ,`) is invalid, not absent: a peer that frames by "has
    /// Transfer-Encoding" would read the body one way and a parser that
    /// fell back to Content-Length, or to no body, another (a desync).
    fn add_transfer_encoding(&mut self, value: &[u8]) {
        let mut codings = 0;
        for coding in super::headers::list_tokens(value) {
            codings += 1;
            self.transfer_encoding = match self.transfer_encoding {
                TransferCoding::Absent if coding.eq_ignore_ascii_case(b"chunked") => {
                    TransferCoding::Chunked
                }
                TransferCoding::Chunked if coding.eq_ignore_ascii_case(b"chunked") => {
                    TransferCoding::Invalid
                }
                TransferCoding::Invalid => TransferCoding::Invalid,
                _ => TransferCoding::Unsupported,
            };
        }
        if codings == 0 {
            self.transfer_encoding = TransferCoding::Invalid;
        }
    }

    fn body(&self) -> Result<BodyKind, RequestError> {
        match (&self.transfer_encoding, self.has_content_length) {
            (TransferCoding::Absent, false) => Ok(BodyKind::None),
            (TransferCoding::Absent, true) => {
                Ok(BodyKind::Length(self.content_length.get().unwrap_or(0)))
            }
            (_, true) => Err(RequestError::BadRequest(
                "both Content-Length and Transfer-Encoding",
            )),
            (TransferCoding::Chunked, false) => Ok(BodyKind::Chunked),
            (TransferCoding::Unsupported, false) => Err(RequestError::NotImplemented),
            (TransferCoding::Invalid, false) => {
                Err(RequestError::BadRequest("invalid Transfer-Encoding"))
            }
        }
    }

    fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.connection_close,
            Version::Http10 => self.connection_keep_alive && !self.connection_close,
        }
    }
}

#[cfg(test)]
mod tests;
