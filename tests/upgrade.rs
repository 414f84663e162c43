//! Upgrade / WebSocket tunnelling: the upgrade request reaches the upstream
//! with Upgrade and Connection: upgrade, the 101 is relayed, frames flow
//! byte-for-byte both ways, half-close is propagated, a non-101 answer is a
//! normal response, and the tunnel timeout closes idle tunnels.

mod common;

use common::*;
use std::thread;
use std::time::{Duration, Instant};

const UPGRADE_REQ: &[u8] = b"GET /ws HTTP/1.1\r\n\
Host: ws.test\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Sec-WebSocket-Version: 13\r\n\
\r\n";

const SWITCH: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
\r\n";

/// Checks the upgrade request; answers 400 if Upgrade / Connection: upgrade
/// didn't arrive, else 101. Returns true when upgraded.
fn accept_upgrade(c: &mut UpConn) -> bool {
    let Some(req) = c.read_request() else {
        return false;
    };
    let ok = req
        .head
        .header("upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && req.head.has_token("connection", "upgrade")
        && req.head.header("sec-websocket-key").as_deref() == Some("dGhlIHNhbXBsZSBub25jZQ==")
        && req.head.header("sec-websocket-version").as_deref() == Some("13");
    if !ok {
        c.respond(400, &[], b"upgrade headers missing");
        return false;
    }
    c.write(SWITCH)
}

/// Echo upstream: echoes every frame (unmasked, same opcode); after echoing
/// a close frame it closes.
fn ws_echo_upstream() -> RecordingUpstream {
    RecordingUpstream::start(|c| {
        if !accept_upgrade(c) {
            return;
        }
        while let Ok(f) = c.read_ws_frame() {
            let out = ws_encode(f.fin, f.opcode, &f.payload, None);
            if !c.write(&out) || f.opcode == 8 {
                return;
            }
        }
    })
}

fn upgrade(c: &mut Conn) -> Response {
    c.send(UPGRADE_REQ);
    let r = c.read_response().expect("101 response");
    assert_eq!(r.status, 101, "{}", show(&r.raw));
    r
}

/// Fails if tern strips Upgrade/Connection from an upgrade request, does
/// not relay the 101, or alters tunnelled bytes in either direction.
#[test]
fn websocket_frames_are_tunnelled_both_ways() {
    let up = ws_echo_upstream();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = upgrade(&mut c);
    assert!(
        r.header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
        "{}",
        show(&r.raw)
    );
    assert!(
        r.head.has_token("connection", "upgrade"),
        "{}",
        show(&r.raw)
    );
    assert!(r.has("sec-websocket-accept"));

    let mut sent = Vec::new();
    let frames: Vec<(u8, Vec<u8>)> = vec![
        (1, b"hello through tern".to_vec()),
        (2, (0..=255u8).collect()), // 16-bit length
        (2, pattern(70_000, 9)),    // 64-bit length
        (1, "ünïcödé ✓".as_bytes().to_vec()),
    ];
    for (i, (op, payload)) in frames.iter().enumerate() {
        let f = ws_encode(true, *op, payload, Some([1, 2, 3, i as u8]));
        sent.extend_from_slice(&f);
        c.send(&f);
        let back = c.read_ws_frame().expect("echoed frame");
        assert_eq!(back.opcode, *op);
        assert!(!back.masked);
        assert!(back.payload == *payload, "frame {} payload differs", i);
    }
    // Close frame with status 1000.
    let close = ws_encode(true, 8, &[0x03, 0xe8, b'b', b'y', b'e'], Some([9, 9, 9, 9]));
    sent.extend_from_slice(&close);
    c.send(&close);
    let back = c.read_ws_frame().expect("close frame");
    assert_eq!(back.opcode, 8);
    assert_eq!(back.payload, vec![0x03, 0xe8, b'b', b'y', b'e']);
    // Upstream closed after the close frame: the client sees EOF.
    assert!(
        c.expect_close(Duration::from_secs(3)).is_ok(),
        "tunnel not closed"
    );

    // The upstream received the frames byte-for-byte after the head.
    let all = up.conn_bytes(0);
    let p = find(&all, b"\r\n\r\n", 0).unwrap() + 4;
    assert!(all[p..] == sent[..], "tunnelled bytes differ");
}

#[test]
fn half_close_is_propagated_through_the_tunnel() {
    let up = RecordingUpstream::start(|c| {
        if !accept_upgrade(c) {
            return;
        }
        // Echo until EOF from the client side, then send a last frame.
        while let Ok(f) = c.read_ws_frame() {
            c.write(&ws_encode(true, f.opcode, &f.payload, None));
        }
        if c.conn.eof {
            c.write(&ws_encode(true, 1, b"last words", None));
            thread::sleep(Duration::from_millis(100));
        }
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    upgrade(&mut c);
    c.send(&ws_encode(true, 1, b"ping", Some([7, 7, 7, 7])));
    assert_eq!(c.read_ws_frame().unwrap().payload, b"ping");
    c.shutdown_write();
    let f = c
        .read_ws_frame()
        .expect("frame sent by the upstream after the client's half-close");
    assert_eq!(f.payload, b"last words");
    assert!(c.expect_close(Duration::from_secs(3)).is_ok());
    assert!(up.conn_peer_eof(0), "upstream never saw EOF");
}

/// A WebSocket's close is its normal end: no "upstream failed" line, which
/// would send an operator after a healthy server at every close.
#[test]
fn a_websocket_that_closes_is_no_upstream_failure() {
    let up = ws_echo_upstream();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    upgrade(&mut c);
    c.send(&ws_encode(true, 1, b"hi", Some([1, 2, 3, 4])));
    assert_eq!(c.read_ws_frame().expect("echo").payload, b"hi");
    c.send(&ws_encode(true, 8, b"", Some([1, 2, 3, 4])));
    assert_eq!(c.read_ws_frame().expect("close echoed").opcode, 8);
    assert!(c.expect_close(Duration::from_secs(3)).is_ok());
    // The client's side closed too: the tunnel, and its exchange, end.
    drop(c);
    let blamed = wait_until(Duration::from_secs(2), || tern.has_said("upstream failed"));
    assert!(!blamed, "{:?}", tern.said("upstream failed"));
}

#[test]
fn server_speaks_first_after_upgrade() {
    let up = RecordingUpstream::start(|c| {
        if accept_upgrade(c) {
            c.write(&ws_encode(true, 1, b"welcome", None));
            let _ = c.read_ws_frame();
        }
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    upgrade(&mut c);
    assert_eq!(c.read_ws_frame().expect("welcome").payload, b"welcome");
}

#[test]
fn non_101_answer_to_upgrade_is_a_normal_response() {
    let up = RecordingUpstream::start(|c| {
        while let Some(req) = c.read_request() {
            c.respond(200, &[], req.head.target().as_bytes());
        }
    });
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    c.send(UPGRADE_REQ);
    let r = c.read_response().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "/ws");
    // The connection is still HTTP: a second request goes through tern's
    // request processing (X-Forwarded-For added), not a raw tunnel.
    let r = c.roundtrip(&get("/after"));
    assert_eq!(r.body_str(), "/after");
    let reqs = up.requests();
    assert_eq!(reqs.len(), 2);
    assert!(
        reqs[1].head.has("x-forwarded-for"),
        "second request was tunnelled raw: {}",
        show(&reqs[1].head.raw)
    );
}

/// A 101 must switch to a protocol the request offered (RFC 9110 §7.8),
/// and name it: else an upstream opens a tunnel the client never asked
/// for, of a protocol the route may keep out. It is a 502, and no bytes
/// pass as a tunnel.
#[test]
fn a_101_to_a_protocol_the_request_did_not_offer_is_a_502() {
    let switches = [
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket, h2c\r\nConnection: Upgrade\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n",
    ];
    for switch in switches {
        let up = RecordingUpstream::start(move |c| {
            if c.read_request().is_some() {
                c.write(switch.as_bytes());
                c.write(b"tunnelled bytes");
            }
        });
        let tern = Tern::start(&format!(
            "[[listener]]\nbind = \"127.0.0.1:0\"\n[[route]]\nbackend = \"app\"\n\
             upgrade = [\"websocket\", \"h2c\"]\n[backend.app]\nservers = [\"{}\"]\n",
            up.addr
        ));
        let mut c = tern.connect();
        c.send(UPGRADE_REQ);
        let r = c.read_response().expect("response");
        assert_eq!(r.status, 502, "{switch:?}: {}", show(&r.raw));
        assert!(
            !contains(&r.raw, b"tunnelled"),
            "{switch:?}: {}",
            show(&r.raw)
        );
    }
}

/// A client that stops reading while its upstream keeps sending: nothing
/// moves through the tunnel, and at the tunnel timeout it ends, the
/// upstream's connection with it (it was held for as long as the client
/// stayed, 75 s in the probe with a 2 s timeout).
#[test]
fn a_tunnel_whose_client_stops_reading_ends_at_the_tunnel_timeout() {
    let (ended, seen) = std::sync::mpsc::channel();
    let up = RecordingUpstream::start(move |c| {
        if accept_upgrade(c) {
            let chunk = vec![b'x'; 64 << 10];
            // Bounded: 64 MiB is far more than the sockets between hold.
            for _ in 0..1024 {
                if !c.write(&chunk) {
                    let _ = ended.send(());
                    return;
                }
            }
        }
    });
    let tern = Cfg::new(up.addr).timeout("tunnel", "1s").start();
    let mut c = tern.connect();
    upgrade(&mut c);
    // The client reads nothing more.
    assert!(
        seen.recv_timeout(Duration::from_secs(15)).is_ok(),
        "the upstream's connection outlived the tunnel timeout"
    );
    drop(c);
}

#[test]
fn idle_tunnel_is_closed_after_tunnel_timeout() {
    let up = RecordingUpstream::start(|c| {
        if accept_upgrade(c) {
            c.conn.set_read_timeout(Duration::from_secs(10));
            let _ = c.conn.read_to_eof();
        }
    });
    let tern = Cfg::new(up.addr).timeout("tunnel", "1s").start();
    let mut c = tern.connect();
    upgrade(&mut c);
    let start = Instant::now();
    assert!(
        c.expect_close(Duration::from_secs(5)).is_ok(),
        "idle tunnel not closed"
    );
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "closed too early"
    );
    assert!(
        wait_until(Duration::from_secs(3), || up.conn_peer_eof(0)),
        "upstream side of the tunnel not closed"
    );
}

#[test]
fn active_tunnel_outlives_tunnel_timeout() {
    let up = ws_echo_upstream();
    let tern = Cfg::new(up.addr).timeout("tunnel", "1s").start();
    let mut c = tern.connect();
    upgrade(&mut c);
    // 6 messages 400 ms apart = 2.4 s of activity, longer than the timeout.
    for i in 0..6u8 {
        let msg = format!("m{}", i);
        c.send(&ws_encode(true, 1, msg.as_bytes(), Some([i, 1, 2, 3])));
        assert_eq!(c.read_ws_frame().expect("echo").payload, msg.as_bytes());
        thread::sleep(Duration::from_millis(400));
    }
}
