use super::*;
use crate::http::scan::{HeadScanner, Scan};

const LIMITS: Limits = Limits {
    max_head_bytes: 64 * 1024,
    max_request_line_bytes: 8 * 1024,
    max_headers: 100,
};

/// Runs the same two steps as a session: line-ending scan, then parse.
fn check(head: &[u8]) -> Result<(BodyKind, bool, Vec<u8>), RequestError> {
    match HeadScanner::default().scan(head) {
        Scan::Complete { head_len } => assert_eq!(head_len, head.len(), "test heads end the input"),
        Scan::BareLineEnding => return Err(RequestError::BadRequest("bare line ending")),
        Scan::Partial { .. } => panic!("test head is incomplete"),
    }
    let mut headers = field_slots::<256>();
    let parsed = parse(head, &mut headers, &LIMITS)?;
    Ok((parsed.body, parsed.keep_alive, parsed.host.to_vec()))
}

fn status_of(head: &[u8]) -> Option<RequestError> {
    check(head).err()
}

fn bad(head: &[u8]) {
    assert!(
        matches!(status_of(head), Some(RequestError::BadRequest(_))),
        "expected 400 for {:?}, got {:?}",
        String::from_utf8_lossy(head),
        check(head)
    );
}

#[test]
fn accepts_a_plain_get() {
    let parsed = check(b"GET /x HTTP/1.1\r\nHost: example.test\r\n\r\n");
    assert_eq!(parsed, Ok((BodyKind::None, true, b"example.test".to_vec())));
}

#[test]
fn frames_by_length_or_chunked() {
    let cl = check(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n");
    assert_eq!(cl.map(|p| p.0), Ok(BodyKind::Length(12)));
    let te = check(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(te.map(|p| p.0), Ok(BodyKind::Chunked));
}

#[test]
fn refuses_ambiguous_framing() {
    bad(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
    bad(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
    bad(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n");
    bad(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n");
    bad(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n");
    bad(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n");
    bad(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n");
    bad(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
}

#[test]
fn a_transfer_encoding_that_names_no_coding_is_refused() {
    // Read as absent, these framed the body by Content-Length, or left it
    // unread to be parsed as the next request: a desync with any peer that
    // frames by the field's presence (nginx answers 501, HAProxy 400).
    for te in ["", ",", " , ,", ",\t,"] {
        for length in ["", "Content-Length: 5\r\n"] {
            let head =
                format!("POST / HTTP/1.1\r\nHost: a\r\n{length}Transfer-Encoding: {te}\r\n\r\n");
            assert!(
                matches!(
                    status_of(head.as_bytes()),
                    Some(RequestError::BadRequest(_))
                ),
                "{te:?} {length:?}"
            );
        }
        let head = format!("POST / HTTP/1.0\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert!(matches!(
            status_of(head.as_bytes()),
            Some(RequestError::BadRequest(_))
        ));
    }
}

#[test]
fn transfer_coding_other_than_final_chunked_is_not_implemented() {
    for te in ["gzip", "chunked, gzip", "gzip, chunked"] {
        let head = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
        assert_eq!(
            status_of(head.as_bytes()),
            Some(RequestError::NotImplemented),
            "{te}"
        );
    }
}

#[test]
fn refuses_malformed_fields() {
    bad(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tfolded\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: a\r\nX\x01Y: a\r\n\r\n");
    bad(b"GET / HTTP/1.1\nHost: a\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n");
}

#[test]
fn host_is_required_once_on_http11() {
    bad(b"GET / HTTP/1.1\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    bad(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    assert!(check(b"GET / HTTP/1.0\r\n\r\n").is_ok());
}

#[test]
fn a_host_routing_and_the_application_could_read_two_ways_is_refused() {
    for host in [
        "a:xx",
        "a:999999",
        "a:65536",
        "a:1:2",
        "[zz]",
        "[]",
        "[::1",
        "[::1]x",
        "[::1]:x",
        "a%00b",
        "a%2eb",
        "internal.example..",
        "a..b",
        ".a",
        "a[1]",
        "admin.example,x",
        "a;b",
    ] {
        let head = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert!(check(head.as_bytes()).is_err(), "{host}");
        let absolute = format!("GET http://{host}/ HTTP/1.1\r\nHost: h\r\n\r\n");
        assert!(check(absolute.as_bytes()).is_err(), "absolute-form {host}");
    }
    for host in [
        "a",
        "a:",
        "a:80",
        "a:65535",
        "example.com.",
        "[::1]",
        "[::1]:8080",
        "[::ffff:1.2.3.4]",
        "10.0.0.1:443",
        "under_score.example",
    ] {
        let head = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert!(check(head.as_bytes()).is_ok(), "{host}");
    }
}

#[test]
fn other_versions_get_505() {
    for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0"] {
        let head = format!("GET / {version}\r\nHost: a\r\n\r\n");
        assert_eq!(
            status_of(head.as_bytes()),
            Some(RequestError::VersionNotSupported),
            "{version}"
        );
    }
    bad(b"GET / HTTX/1.1\r\nHost: a\r\n\r\n");
    // A space in the target is a malformed line, not a version problem.
    bad(b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n");
}

#[test]
fn too_many_fields_is_431() {
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..100 {
        head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    assert_eq!(status_of(&head), Some(RequestError::HeadTooLarge));
}

#[test]
fn keep_alive_follows_version_and_connection() {
    let keep = |head: &[u8]| check(head).map(|p| p.1);
    assert_eq!(
        keep(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
        Ok(false)
    );
    assert_eq!(keep(b"GET / HTTP/1.0\r\n\r\n"), Ok(false));
    assert_eq!(
        keep(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"),
        Ok(true)
    );
}

#[test]
fn absolute_form_authority_is_the_host() {
    let head = b"GET http://Example.test:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n";
    let mut headers = field_slots::<8>();
    let parsed = parse(head, &mut headers, &LIMITS).expect("valid");
    assert_eq!(parsed.host, b"Example.test:8080");
    assert_eq!(parsed.origin_target, b"/p?q=1");
    assert_eq!(parsed.path(), b"/p");
}

#[test]
fn connect_is_refused() {
    let head = b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n";
    assert_eq!(status_of(head), Some(RequestError::MethodNotAllowed));
}

#[test]
fn trace_is_refused_and_other_methods_are_not() {
    let head = b"TRACE / HTTP/1.1\r\nHost: a\r\nCookie: session=1\r\n\r\n";
    assert_eq!(status_of(head), Some(RequestError::MethodNotAllowed));
    // Methods are case-sensitive (RFC 9110 §9.1): "trace" is some other one.
    for method in ["trace", "OPTIONS", "PROPFIND", "DELETE"] {
        let head = format!("{method} / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(status_of(head.as_bytes()), None, "{method}");
    }
}

#[test]
fn upgrade_needs_connection_upgrade() {
    let head = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let mut headers = field_slots::<8>();
    assert!(parse(head, &mut headers, &LIMITS).expect("valid").upgrade);
    let head = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n";
    let mut headers = field_slots::<8>();
    assert!(!parse(head, &mut headers, &LIMITS).expect("valid").upgrade);
}
