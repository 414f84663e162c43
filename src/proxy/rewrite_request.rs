//! The head sent upstream: the client's header lines copied as raw runs of
//! bytes (they were proven clean by the scanner and parser), minus hop-by-hop
//! fields, plus the forwarding fields and freshly derived framing.

use std::net::IpAddr;

use httparse::Header;

use crate::http::headers::{classify, has_token, push_decimal, push_field, FieldKind};
use crate::http::request::RequestHead;
use crate::http::{BodyKind, Version};
use crate::route::HeaderEdits;

/// What the forwarded head needs to know besides the request itself.
pub struct ForwardInfo<'a> {
    pub client_ip: IpAddr,
    /// "http" or "https": the scheme the client used.
    pub proto: &'static str,
    /// tern answers `Expect: 100-continue` itself, so the field is dropped.
    pub strip_expect: bool,
    /// The address the client connected to: the Host sent upstream for an
    /// HTTP/1.0 request that had none (HTTP/1.1 upstreams require one).
    /// Only looked up for such requests; `localhost` when unknown.
    pub local_addr: Option<std::net::SocketAddr>,
    /// The route's changes; `None` on the plain path.
    pub edit: Option<RequestEdit<'a>>,
}

/// What a route changes in the request it forwards.
#[derive(Default)]
pub struct RequestEdit<'a> {
    /// Replaces the origin-form target (path rewriting).
    pub target: Option<&'a [u8]>,
    /// Replaces the Host sent upstream.
    pub host: Option<&'a str>,
    pub headers: Option<&'a HeaderEdits>,
}

/// Appends the upstream request head for `req` (parsed from `head`) to `out`.
pub fn write_upstream_head(req: &RequestHead, head: &[u8], info: &ForwardInfo, out: &mut Vec<u8>) {
    let edit = info.edit.as_ref();
    write_request_line(req, edit.and_then(|e| e.target), out);
    let host_replaced = req.target_authority.is_some() || edit.is_some_and(|e| e.host.is_some());
    let removes = |name: &str| {
        edit.and_then(|e| e.headers)
            .is_some_and(|h| h.removes(name))
    };
    let named = ConnectionNamed::of(req.headers, req.has_connection_field);
    let mut runs = LineRuns::new(head);
    let mut forwarded_for: Vec<&[u8]> = Vec::new();
    for field in req.headers {
        let keep = match classify(field.name.as_bytes()) {
            FieldKind::Other => {
                !named.names(field.name) && !removes(field.name) && !is_alias(field.name)
            }
            FieldKind::Host => !host_replaced,
            FieldKind::Upgrade => req.upgrade,
            // An HTTP/1.0 client's expectation is to be ignored (RFC 9110
            // §10.1.1); forwarded as HTTP/1.1 it would come alive upstream.
            FieldKind::Expect => {
                req.version == Version::Http11 && !(info.strip_expect && req.expect_continue)
            }
            FieldKind::XForwardedFor => {
                forwarded_for.push(field.value);
                false
            }
            _ => false,
        };
        if keep {
            runs.keep(field, out);
        } else {
            runs.skip(out);
        }
    }
    runs.skip(out);
    write_added_fields(req, info, &forwarded_for, out);
    if let Some(headers) = edit.and_then(|e| e.headers) {
        out.extend_from_slice(headers.added_lines());
    }
    out.extend_from_slice(b"\r\n");
}

/// A field named like one tern frames, drops or sets itself but with `_`
/// for `-` (`Transfer_Encoding`, `X_Forwarded_Proto`): not that field to
/// tern (RFC 9110 §5.1), but to an application that reads fields through
/// CGI-style names (Rack, WSGI, PHP: `HTTP_X_FORWARDED_PROTO`) the same one
/// — a forged scheme or client address next to tern's, or a second framing.
/// Such aliases are dropped, as nginx drops every name with `_` by default.
fn is_alias(name: &str) -> bool {
    const LONGEST: usize = "transfer-encoding".len();
    if !name.contains('_') || name.len() > LONGEST {
        return false;
    }
    let mut dashed = [0u8; LONGEST];
    for (to, from) in dashed.iter_mut().zip(name.bytes()) {
        *to = if from == b'_' { b'-' } else { from };
    }
    classify(&dashed[..name.len()]) != FieldKind::Other
}

fn write_request_line(req: &RequestHead, rewritten: Option<&[u8]>, out: &mut Vec<u8>) {
    out.extend_from_slice(req.method.as_bytes());
    out.push(b' ');
    let target = rewritten.unwrap_or(req.origin_target);
    if !target.starts_with(b"/") && target != b"*" {
        out.push(b'/');
    }
    out.extend_from_slice(target);
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

fn write_added_fields(req: &RequestHead, info: &ForwardInfo, prior: &[&[u8]], out: &mut Vec<u8>) {
    if let Some(host) = info.edit.as_ref().and_then(|e| e.host) {
        push_field(out, b"Host", host.as_bytes());
    } else if let Some(authority) = req.target_authority {
        push_field(out, b"Host", authority);
    } else if !req.has_host_field {
        // HTTP/1.1 requires a Host upstream; an HTTP/1.0 client may send none.
        match info.local_addr {
            Some(local) => {
                use std::io::Write;
                // Writing into a Vec cannot fail.
                let _ = write!(out, "Host: {local}\r\n");
            }
            None => out.extend_from_slice(b"Host: localhost\r\n"),
        }
    }
    out.extend_from_slice(b"X-Forwarded-For: ");
    for value in prior {
        out.extend_from_slice(value);
        out.extend_from_slice(b", ");
    }
    push_ip(out, info.client_ip);
    out.extend_from_slice(b"\r\nX-Forwarded-Proto: ");
    out.extend_from_slice(info.proto.as_bytes());
    out.extend_from_slice(b"\r\n");
    if !req.host.is_empty() {
        push_field(out, b"X-Forwarded-Host", req.host);
    }
    match req.body {
        BodyKind::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        BodyKind::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        BodyKind::None | BodyKind::UntilClose => {}
    }
    if req.upgrade {
        out.extend_from_slice(b"Connection: upgrade\r\n");
    }
}

/// IPv4 by hand: `fmt` machinery showed up in profiles of every request.
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_decimal(out, u64::from(octet));
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{v6}");
        }
    }
}

/// The field names a head's `Connection` fields list (RFC 9110 §7.6.1),
/// which are hop-by-hop too, looked up in those fields' values as they lie.
/// The first two values are held inline: the usual `Connection: close`
/// costs no allocation (a list of its names did, per request).
#[derive(Default)]
pub struct ConnectionNamed<'b> {
    first: [&'b [u8]; 2],
    /// The values past the first two: a head with many Connection fields.
    more: Vec<&'b [u8]>,
}

impl<'b> ConnectionNamed<'b> {
    /// The Connection fields of `headers`; none are looked for when the
    /// parser saw none (`present`).
    pub fn of(headers: &[Header<'b>], present: bool) -> Self {
        let mut named = ConnectionNamed::default();
        if !present {
            return named;
        }
        let values = headers
            .iter()
            .filter(|f| classify(f.name.as_bytes()) == FieldKind::Connection)
            .map(|f| f.value);
        for (i, value) in values.enumerate() {
            match named.first.get_mut(i) {
                Some(slot) => *slot = value,
                None => named.more.push(value),
            }
        }
        named
    }

    /// Whether a Connection field lists `name` (case-insensitively).
    pub fn names(&self, name: &str) -> bool {
        self.first
            .iter()
            .chain(&self.more)
            .any(|value| has_token(value, name.as_bytes()))
    }
}

/// Copies kept header lines as contiguous runs of the original bytes, so a
/// head with nothing to drop costs one copy for all its fields.
pub struct LineRuns<'b> {
    head: &'b [u8],
    run: Option<(usize, usize)>,
}

impl<'b> LineRuns<'b> {
    pub fn new(head: &'b [u8]) -> Self {
        LineRuns { head, run: None }
    }

    /// Adds the whole line of `field` (name through CRLF) to the current run.
    pub fn keep(&mut self, field: &Header<'b>, out: &mut Vec<u8>) {
        let start = field.name.as_ptr() as usize - self.head.as_ptr() as usize;
        let end =
            memchr::memchr(b'\n', &self.head[start..]).map_or(self.head.len(), |i| start + i + 1);
        match self.run {
            Some((run_start, run_end)) if run_end == start => self.run = Some((run_start, end)),
            _ => {
                self.skip(out);
                self.run = Some((start, end));
            }
        }
    }

    /// Ends the current run, copying it out.
    pub fn skip(&mut self, out: &mut Vec<u8>) {
        if let Some((start, end)) = self.run.take() {
            out.extend_from_slice(&self.head[start..end]);
        }
    }
}

#[cfg(test)]
mod tests;
