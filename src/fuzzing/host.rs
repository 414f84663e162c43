//! A host as a client writes it, in a Host field and as the authority of an
//! absolute-form target, then through the name matching routes use, and a
//! configured host pattern made of the same bytes.

use crate::http::request::{self, RequestHead};
use crate::route::host::{host_name, HostPattern};

pub fn host(data: &[u8]) {
    if data.iter().any(|&b| b == b'\r' || b == b'\n') {
        return;
    }
    let limits = crate::config::Limits {
        max_head_bytes: usize::MAX,
        max_request_line_bytes: usize::MAX,
        max_headers: 8,
    };
    let field = [b"GET / HTTP/1.1\r\nHost: ", data, b"\r\n\r\n"].concat();
    let mut fields = request::field_slots::<8>();
    if let Ok(req) = request::parse(&field, &mut fields, &limits) {
        assert_eq!(req.host, trim_whitespace(data));
        check_name(&req);
    }
    let absolute = [b"GET http://", data, b"/p HTTP/1.1\r\nHost: h\r\n\r\n"].concat();
    let mut fields = request::field_slots::<8>();
    if let Ok(req) = request::parse(&absolute, &mut fields, &limits) {
        assert_eq!(req.target_authority, Some(req.host));
        assert!(data.starts_with(req.host));
        check_name(&req);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_patterns(text);
    }
}

/// httparse drops the spaces and tabs around a field value.
fn trim_whitespace(value: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

/// The name routes match is the host's start, without port or final dot.
fn check_name(req: &RequestHead) {
    let name = host_name(req.host);
    assert!(req.host.starts_with(name));
}

/// A pattern accepted from a config matches the names it describes.
fn check_patterns(text: &str) {
    match HostPattern::name(text) {
        Ok(HostPattern::Exact(name)) => {
            assert!(HostPattern::name(text).is_ok_and(|p| p.matches(name.as_bytes())));
            let upper = name.to_ascii_uppercase();
            assert!(HostPattern::name(text).is_ok_and(|p| p.matches(upper.as_bytes())));
        }
        Ok(pattern @ HostPattern::Wildcard(_)) => {
            let below = format!("www.{}", &text[2..]);
            assert!(pattern.matches(below.as_bytes()), "{below}");
            assert!(!pattern.matches(&text.as_bytes()[2..]));
        }
        Ok(HostPattern::Domain(_)) | Err(_) => {}
    }
    if let Ok(pattern) = HostPattern::domain(text) {
        assert!(pattern.matches(text.as_bytes()));
        let around = format!("a.{text}.b");
        assert!(pattern.matches(around.as_bytes()), "{around}");
    }
}
