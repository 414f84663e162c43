//! A request head from a client, through every check tern makes before a
//! byte is forwarded: the line-ending scan (resumed across a read split
//! anywhere), the size limits, parsing and framing rules, routing, and the
//! upstream head tern writes, which must itself parse back to the same
//! request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::plan::with_plan;
use crate::config::plan::MAX_HEADERS_CAP;
use crate::config::{Limits, Plan};
use crate::http::headers::{classify, list_tokens, FieldKind};
use crate::http::request::{self, RequestHead};
use crate::http::scan::{leading_empty_lines, HeadScanner, Scan};
use crate::proxy::read_head::{check_complete, check_partial};
use crate::proxy::rewrite_request::{write_upstream_head, ForwardInfo, RequestEdit};
use crate::route::{Action, RouteInput};

/// The first byte picks where the head is split into two reads and the
/// client's address family; the rest is what the client sent.
pub fn request_head(data: &[u8]) {
    let Some((&knobs, sent)) = data.split_first() else {
        return;
    };
    with_plan(|plan| {
        let Some(head) = read(sent, usize::from(knobs), &plan.limits) else {
            return;
        };
        let mut fields = request::field_slots::<MAX_HEADERS_CAP>();
        if let Ok(req) = request::parse(head, &mut fields, &plan.limits) {
            check_canonical(req.path());
            let client_ip = match knobs & 1 {
                0 => IpAddr::V4(Ipv4Addr::LOCALHOST),
                _ => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            forward(&req, head, client_ip, plan);
        }
    });
}

/// The path routes see is canonical: putting it in canonical form again
/// changes nothing, and no segment is empty (but a last), `.` or `..`.
fn check_canonical(path: &[u8]) {
    let again = crate::http::path::canonical(path);
    assert!(
        matches!(again, Ok(std::borrow::Cow::Borrowed(same)) if same == path),
        "a routed path is not canonical: {:?}",
        String::from_utf8_lossy(path)
    );
    if let Some(rest) = path.strip_prefix(b"/") {
        let segments: Vec<&[u8]> = rest.split(|&b| b == b'/').collect();
        for (i, segment) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            assert!(
                !matches!(*segment, b"." | b"..") && (last || !segment.is_empty()),
                "a dot or empty segment in a routed path: {:?}",
                String::from_utf8_lossy(path)
            );
        }
    }
}

/// What `read_head` does with the bytes: skip leading empty lines, scan
/// (in two reads, which must agree with one), apply the limits.
fn read<'d>(sent: &'d [u8], split: usize, limits: &Limits) -> Option<&'d [u8]> {
    let data = &sent[leading_empty_lines(sent)..];
    let mut whole = HeadScanner::default();
    let at_once = whole.scan(data);
    let mut resumed = HeadScanner::default();
    let first_read = resumed.scan(&data[..split % (data.len() + 1)]);
    let after_split = match first_read {
        Scan::Partial { .. } => resumed.scan(data),
        decided => decided,
    };
    assert_eq!(after_split, at_once, "a split read scans differently");
    match at_once {
        Scan::Complete { head_len } => {
            assert!(head_len <= data.len() && data[..head_len].ends_with(b"\r\n"));
            check_complete(&whole, head_len, limits).ok()?;
            Some(&data[..head_len])
        }
        Scan::Partial { .. } => {
            let _ = check_partial(&whole, data, limits);
            None
        }
        Scan::BareLineEnding => None,
    }
}

/// Routes the request and writes its upstream head as `prepare` does, then
/// holds that head to the rules an upstream relies on.
fn forward(req: &RequestHead, head: &[u8], client_ip: IpAddr, plan: &Plan) {
    let input = RouteInput::of(req, client_ip, 0);
    let live = |_: usize| true;
    let route = plan.routes.iter().find(|r| r.matches(&input, &live));
    let proxy = match route.map(|r| &r.action) {
        Some(Action::Proxy(proxy)) => Some(proxy),
        _ => None,
    };
    let rewritten = proxy.and_then(|p| p.rewrite.as_ref()).and_then(|rewrite| {
        let target = req.origin_target;
        let query = memchr::memchr(b'?', target).map_or(&b""[..], |at| &target[at..]);
        rewrite.target(req.path(), query)
    });
    let edit = proxy.filter(|p| p.edits_request()).map(|p| RequestEdit {
        target: rewritten.as_deref(),
        host: p.upstream_host.as_deref(),
        headers: p.request_edits.as_ref(),
    });
    let edited = edit.is_some();
    let info = ForwardInfo {
        client_ip,
        proto: "http",
        strip_expect: true,
        local_addr: None,
        edit,
    };
    let mut out = Vec::new();
    write_upstream_head(req, head, &info, &mut out);
    let upstream_host = proxy.and_then(|p| p.upstream_host.as_deref());
    let expected = Expected {
        target: rewritten.as_deref().unwrap_or(req.origin_target),
        host: match (upstream_host, req.target_authority, req.has_host_field) {
            (Some(host), _, _) => host.as_bytes(),
            (None, Some(authority), _) => authority,
            (None, None, true) => req.host,
            (None, None, false) => b"localhost",
        },
        edited,
    };
    check_upstream_head(req, &out, &expected);
}

struct Expected<'a> {
    /// The target as tern sends it, before a leading '/' is added.
    target: &'a [u8],
    host: &'a [u8],
    /// The route edits headers, so fields may be added or removed.
    edited: bool,
}

/// The forwarded head is clean, means what the client's did, and carries no
/// hop-by-hop field.
fn check_upstream_head(req: &RequestHead, out: &[u8], expected: &Expected) {
    let show = || String::from_utf8_lossy(out).into_owned();
    super::assert_one_clean_head(out);
    let roomy = Limits {
        max_head_bytes: usize::MAX,
        max_request_line_bytes: usize::MAX,
        max_headers: usize::MAX,
    };
    let mut fields = request::field_slots::<{ MAX_HEADERS_CAP + 16 }>();
    let sent = match request::parse(out, &mut fields, &roomy) {
        Ok(sent) => sent,
        Err(err) => panic!("upstream head refused ({err:?}): {}", show()),
    };
    assert_eq!(sent.method, req.method);
    assert_eq!(sent.body, req.body, "{}", show());
    assert_eq!(sent.upgrade, req.upgrade, "{}", show());
    assert!(!sent.expect_continue, "{}", show());
    let target_sent = match expected.target {
        t if t.starts_with(b"/") || t == b"*" => t.to_vec(),
        t => [b"/", t].concat(),
    };
    assert_eq!(sent.origin_target, target_sent.as_slice(), "{}", show());
    assert_eq!(sent.host, expected.host, "{}", show());
    // The names Connection lists, gathered here on their own: the oracle
    // does not use the code it checks (`ConnectionNamed`).
    let named: Vec<&[u8]> = req
        .headers
        .iter()
        .filter(|f| classify(f.name.as_bytes()) == FieldKind::Connection)
        .flat_map(|f| list_tokens(f.value))
        .collect();
    for field in sent.headers {
        match classify(field.name.as_bytes()) {
            FieldKind::HopByHop => panic!("hop-by-hop {} forwarded: {}", field.name, show()),
            FieldKind::Connection => assert!(req.upgrade && field.value == b"upgrade"),
            FieldKind::Other if !expected.edited => assert!(
                !named
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(field.name.as_bytes())),
                "{} was named in Connection: {}",
                field.name,
                show()
            ),
            _ => {}
        }
    }
}
