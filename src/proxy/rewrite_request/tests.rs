use super::*;
use crate::config::Limits;
use crate::http::request;

const LIMITS: Limits = Limits {
    max_head_bytes: 65536,
    max_request_line_bytes: 8192,
    max_headers: 100,
};

fn forward(head: &[u8]) -> String {
    forward_edited(head, None)
}

fn forward_edited(head: &[u8], edit: Option<RequestEdit>) -> String {
    let mut headers = request::field_slots::<64>();
    let req = request::parse(head, &mut headers, &LIMITS).expect("valid head");
    let info = ForwardInfo {
        client_ip: "10.0.0.9".parse().expect("ip"),
        proto: "http",
        strip_expect: true,
        local_addr: Some("127.0.0.1:8080".parse().expect("addr")),
        edit,
    };
    let mut out = Vec::new();
    write_upstream_head(&req, head, &info, &mut out);
    String::from_utf8(out).expect("ascii")
}

#[test]
fn keeps_fields_byte_for_byte_and_appends_forwarding() {
    let out =
        forward(b"GET /a?b HTTP/1.1\r\nHost: example.test\r\nX-A:  spaced \r\nAccept: */*\r\n\r\n");
    assert_eq!(
        out,
        "GET /a?b HTTP/1.1\r\nHost: example.test\r\nX-A:  spaced \r\nAccept: */*\r\n\
         X-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: example.test\r\n\r\n"
    );
}

#[test]
fn drops_hop_by_hop_and_connection_named_fields() {
    let out = forward(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n\
          Proxy-Connection: x\r\nTE: trailers\r\nTrailer: X\r\nUpgrade: h2c\r\nX-Kept: yes\r\n\r\n",
    );
    for gone in [
        "Connection",
        "X-Secret",
        "Keep-Alive",
        "Proxy-Connection",
        "TE:",
        "Trailer",
        "Upgrade",
    ] {
        assert!(!out.contains(gone), "{gone} leaked into {out}");
    }
    assert!(
        out.contains("Host: a\r\n") && out.contains("X-Kept: yes\r\n"),
        "{out}"
    );
}

#[test]
fn fields_named_in_any_of_many_connection_fields_are_dropped() {
    // Four Connection fields: two held inline, two past them.
    let out = forward(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: X-One\r\nConnection: close\r\n\
          Connection: , x-three ,\r\nConnection: X-Four\r\nX-One: 1\r\nX-Three: 3\r\n\
          X-Four: 4\r\nX-Kept: yes\r\n\r\n",
    );
    for gone in ["X-One", "X-Three", "X-Four", "Connection"] {
        assert!(!out.contains(gone), "{gone} leaked into {out}");
    }
    assert!(out.contains("X-Kept: yes\r\n"), "{out}");
}

#[test]
fn without_a_connection_field_nothing_is_named() {
    let headers = [httparse::Header {
        name: "Connection",
        value: b"X-Secret",
    }];
    // The parser saw no Connection field: none is looked for.
    assert!(!ConnectionNamed::of(&headers, false).names("X-Secret"));
    assert!(ConnectionNamed::of(&headers, true).names("x-secret"));
    assert!(!ConnectionNamed::of(&headers, true).names("X-Secre"));
}

#[test]
fn appends_to_an_existing_forwarded_for() {
    let out = forward(b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\n\r\n");
    assert!(
        out.contains("X-Forwarded-For: 1.2.3.4, 5.6.7.8, 10.0.0.9\r\n"),
        "{out}"
    );
    assert_eq!(out.matches("X-Forwarded-For").count(), 1, "{out}");
}

#[test]
fn absolute_form_becomes_origin_form_with_its_host() {
    let out = forward(b"GET http://example.test?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert!(out.starts_with("GET /?q=1 HTTP/1.1\r\n"), "{out}");
    assert!(
        out.contains("Host: example.test\r\n") && !out.contains("other"),
        "{out}"
    );
}

#[test]
fn framing_is_rederived() {
    let out = forward(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n");
    assert!(
        out.contains("Content-Length: 5\r\n") && !out.contains("5, 5"),
        "{out}"
    );
    let out = forward(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nExpect: 100-continue\r\n\r\n",
    );
    assert!(
        out.contains("Transfer-Encoding: chunked\r\n") && !out.contains("Expect"),
        "{out}"
    );
}

#[test]
fn upgrade_keeps_upgrade_and_sends_connection_upgrade() {
    let out = forward(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    assert!(
        out.contains("Upgrade: websocket\r\n") && out.contains("Connection: upgrade\r\n"),
        "{out}"
    );
}

#[test]
fn http10_request_goes_upstream_as_http11() {
    let out = forward(b"GET / HTTP/1.0\r\n\r\n");
    assert!(
        out.starts_with("GET / HTTP/1.1\r\n") && !out.contains("X-Forwarded-Host"),
        "{out}"
    );
    assert!(out.contains("Host: 127.0.0.1:8080\r\n"), "{out}");
}

#[test]
fn route_edits_change_target_host_and_fields() {
    let edits = HeaderEdits::new(
        &[("X-Env".into(), "prod".into())],
        &[("X-Added".into(), "1".into())],
        &["X-Secret".into()],
    );
    let edit = RequestEdit {
        target: Some(b"/other/x?q"),
        host: Some("backend.internal"),
        headers: Some(&edits),
    };
    let out = forward_edited(
        b"GET /app/x?q HTTP/1.1\r\nHost: public.example\r\nX-Env: dev\r\nX-Secret: s\r\nAccept: */*\r\n\r\n",
        Some(edit),
    );
    assert_eq!(
        out,
        "GET /other/x?q HTTP/1.1\r\nAccept: */*\r\nHost: backend.internal\r\n\
         X-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: public.example\r\n\
         X-Env: prod\r\nX-Added: 1\r\n\r\n"
    );
}

#[test]
fn underscore_aliases_of_fields_tern_handles_are_dropped() {
    let out = forward(
        b"POST / HTTP/1.1\r\nHost: h\r\nX_Forwarded_Proto: https\r\nX_Forwarded_For: 6.6.6.6\r\n\
          x_forwarded_host: evil\r\nTransfer_Encoding: chunked\r\nKeep_Alive: 1\r\nX_Custom: kept\r\n\
          Content-Length: 3\r\n\r\n",
    );
    assert_eq!(
        out,
        "POST / HTTP/1.1\r\nHost: h\r\nX_Custom: kept\r\nX-Forwarded-For: 10.0.0.9\r\n\
         X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nContent-Length: 3\r\n\r\n"
    );
}
