//! The draft-76 (hixie-76) WebSocket handshake of seed 002: the client sends
//! 8 key bytes after the head with no Content-Length, and the application
//! answers 101 and 16 bytes only after reading them. tern must pass the 8
//! bytes on with the head, then tunnel draft-76 frames (0x00 ... 0xFF).

mod common;

use std::time::Duration;

use common::*;

const HEAD: &[u8] = b"GET /demo HTTP/1.1\r\n\
Host: example.com\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\
Sec-WebSocket-Protocol: sample\r\n\
Upgrade: WebSocket\r\n\
Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\
Origin: http://example.com\r\n\
\r\n";
const KEY3: &[u8; 8] = b"^n:ds[4U";
/// The answer for the handshake above, from the draft's own example.
const ANSWER: &[u8; 16] = b"8jKS'y:G*Co,Wxa-";
const SWITCH: &[u8] = b"HTTP/1.1 101 WebSocket Protocol Handshake\r\n\
Upgrade: WebSocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Origin: http://example.com\r\n\
Sec-WebSocket-Location: ws://example.com/demo\r\n\
Sec-WebSocket-Protocol: sample\r\n\
\r\n";

/// An application as draft-76 has it: the 101 only after the 8 key bytes,
/// then it echoes each 0x00 ... 0xFF frame.
fn draft76_upstream() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        let Some(head) = c.read_head() else {
            return;
        };
        let framed = head.has("content-length") || head.has("transfer-encoding");
        let keys = head.has("sec-websocket-key1") && head.has("sec-websocket-key2");
        if framed || !keys || head.header("upgrade").as_deref() != Some("WebSocket") {
            c.respond(400, &[], b"not a draft-76 handshake");
            return;
        }
        match c.read_exact_n(8) {
            Ok(key3) if key3 == KEY3 => {}
            _ => return,
        }
        if !c.write(&[SWITCH, &ANSWER[..]].concat()) {
            return;
        }
        while let Ok(frame) = c.read_until(b"\xff") {
            if !c.write(&frame) {
                return;
            }
        }
    })
}

fn handshake(c: &mut Conn) {
    let head = c.read_head_raw().expect("101 head");
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", show(&head));
    assert!(contains(
        &head,
        b"Sec-WebSocket-Location: ws://example.com/demo"
    ));
    assert_eq!(c.read_exact_n(16).expect("16 bytes"), ANSWER);
}

fn frames_echo(c: &mut Conn) {
    for text in ["hello", "through tern", ""] {
        let frame = [&b"\x00"[..], text.as_bytes(), b"\xff"].concat();
        c.send(&frame);
        assert_eq!(c.read_until(b"\xff").expect("echo"), frame);
    }
}

#[test]
fn a_draft76_handshake_sent_at_once_reaches_the_application_and_frames_flow() {
    let up = draft76_upstream();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.set_read_timeout(Duration::from_secs(10));
    c.send(&[HEAD, &KEY3[..]].concat());
    handshake(&mut c);
    frames_echo(&mut c);
    // Nothing but the head and the 8 bytes went up before the 101.
    let seen = up.conn_bytes(0);
    let head_end = find(&seen, b"\r\n\r\n", 0).expect("head") + 4;
    assert_eq!(&seen[head_end..head_end + 8], KEY3);
}

#[test]
fn a_draft76_key_sent_after_the_head_is_passed_on_when_it_comes() {
    let up = draft76_upstream();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.set_read_timeout(Duration::from_secs(10));
    c.send(HEAD);
    // The key comes later, in two parts (tern reads the 8 bytes whole
    // before it contacts the application, as any small body).
    std::thread::sleep(Duration::from_millis(200));
    c.send(&KEY3[..3]);
    std::thread::sleep(Duration::from_millis(20));
    c.send(&KEY3[3..]);
    handshake(&mut c);
    frames_echo(&mut c);
}

#[test]
fn an_rfc6455_handshake_still_sends_nothing_before_the_101() {
    // The modern handshake has no key bytes: a first frame the client sends
    // early must not be taken for a body.
    let up = RecordingUpstream::start(|c| {
        let Some(req) = c.read_request() else {
            return;
        };
        assert!(!req.head.has("content-length"));
        c.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        let _ = c.read_to_eof();
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    let head = c.read_head_raw().expect("101");
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", show(&head));
}

#[test]
fn an_upstream_connection_that_declined_a_draft76_upgrade_is_not_reused() {
    // The application answers 400 without reading the key bytes and keeps
    // the connection: those bytes would open its next request.
    let up = RecordingUpstream::start(|c| {
        while c.read_request().is_some() {
            if !c.respond(400, &[], b"no WebSocket here") {
                return;
            }
        }
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = c.roundtrip(&[HEAD, &KEY3[..]].concat());
    assert_eq!(r.status, 400);
    let r = c.roundtrip(&get("/next"));
    assert_eq!(r.status, 400, "answered by the application");
    assert!(up.wait_conns(2, Duration::from_secs(5)));
    assert!(
        !contains(&up.conn_bytes(0), b"/next"),
        "{}",
        show(&up.conn_bytes(0))
    );
    assert!(contains(&up.conn_bytes(1), b"GET /next "));
}
