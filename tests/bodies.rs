//! Request bodies: Content-Length and chunked reach the upstream intact
//! (including an 8 MiB body streamed to a slow upstream), chunk extensions
//! are dropped when re-framing.

mod common;

use common::*;
use std::io::Write;
use std::thread;
use std::time::Duration;

fn one_request(up: &RecordingUpstream) -> SeenRequest {
    assert!(
        up.wait_requests(1, Duration::from_secs(5)),
        "upstream got no request"
    );
    up.requests().remove(0)
}

/// Everything the upstream received after the request head on connection 0.
fn body_bytes_on_wire(up: &RecordingUpstream) -> Vec<u8> {
    let all = up.conn_bytes(0);
    let p = find(&all, b"\r\n\r\n", 0).expect("head") + 4;
    all[p..].to_vec()
}

#[test]
fn content_length_body_reaches_upstream_exactly() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = c.roundtrip(&post("/cl", b"hello, world"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "hello, world");
    let seen = one_request(&up);
    assert_eq!(seen.head.header_all("content-length"), vec!["12"]);
    assert!(!seen.head.has("transfer-encoding"));
    assert_eq!(body_bytes_on_wire(&up), b"hello, world");
}

#[test]
fn empty_content_length_body() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = c.roundtrip(&post("/empty", b""));
    assert_eq!(r.status, 200);
    let seen = one_request(&up);
    assert!(seen.body.is_empty());
    // The next request on the connection is not eaten as a body.
    let r = c.roundtrip(&get("/next"));
    assert_eq!(r.body_str(), "/next");
}

#[test]
fn chunked_body_reaches_upstream_intact() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = c.roundtrip(
        b"POST /ch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
5\r\nhello\r\n1\r\n,\r\nA\r\n world 123\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "hello, world 123");
    let seen = one_request(&up);
    assert_eq!(seen.body, b"hello, world 123");
    assert!(seen.head.is_chunked(), "{}", show(&seen.head.raw));
    assert!(!seen.head.has("content-length"), "{}", show(&seen.head.raw));
}

/// Fails if tern passes the chunk extension through (it must re-frame).
#[test]
fn chunk_extensions_are_dropped() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let r = c.roundtrip(
        b"POST /ext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0;last=\"yes\"\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let seen = one_request(&up);
    assert_eq!(seen.body, b"hello");
    let wire = body_bytes_on_wire(&up);
    assert!(
        !contains(&wire, b";"),
        "chunk extension forwarded: {}",
        show(&wire)
    );
    assert!(
        wire.ends_with(b"0\r\n\r\n"),
        "body not terminated: {}",
        show(&wire)
    );
}

#[test]
fn chunked_body_split_across_writes() {
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    let parts: [&[u8]; 7] = [
        b"POST /split HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"1",
        b"0\r\n0123456",
        b"789abcdef\r",
        b"\n3\r\nxyz\r\n0\r",
        b"\n",
        b"\r\n",
    ];
    for p in parts {
        c.send(p);
        thread::sleep(Duration::from_millis(20));
    }
    let r = c.read_response_to("POST").expect("response");
    assert_eq!(r.body_str(), "0123456789abcdefxyz");
}

fn slow_checking_upstream() -> RecordingUpstream {
    // Reads the body in 16 KiB reads with a pause between them, so tern's
    // buffers fill up and it must apply back-pressure, then answers with
    // the body length.
    RecordingUpstream::start(|c| {
        c.conn.read_size = 16 * 1024;
        let Some(head) = c.read_head() else { return };
        let mut n = 0;
        let body = if head.is_chunked() {
            match c.conn.read_chunked() {
                Ok((b, _)) => b,
                Err(_) => return,
            }
        } else {
            let len = head.content_length().unwrap_or(0);
            while c.conn.buf.len() < len {
                match c.conn.fill() {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                n += 1;
                if n % 4 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            c.conn.take(len)
        };
        let len = body.len();
        c.record(&head, body, vec![]);
        c.respond(200, &[], len.to_string().as_bytes());
    })
}

/// Fails if tern corrupts, reorders or truncates a large streamed body, or
/// deadlocks while the upstream reads slowly.
#[test]
fn large_content_length_body_to_slow_upstream() {
    const LEN: usize = 8 * 1024 * 1024;
    let up = slow_checking_upstream();
    let tern = Cfg::new(up.addr).start();
    let body = pattern(LEN, 7);
    let mut c = tern.connect();
    c.set_read_timeout(Duration::from_secs(30));
    let mut writer = c.stream.try_clone().unwrap();
    let head = format!(
        "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        LEN
    );
    let b2 = body.clone();
    let t = thread::spawn(move || {
        writer
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        writer.write_all(head.as_bytes())?;
        for chunk in b2.chunks(256 * 1024) {
            writer.write_all(chunk)?;
        }
        Ok::<(), std::io::Error>(())
    });
    let r = c
        .read_response_to("POST")
        .expect("response to the big POST");
    t.join().unwrap().expect("writing the body");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), LEN.to_string());
    let seen = one_request(&up);
    assert_eq!(seen.body.len(), LEN);
    assert!(seen.body == body, "body bytes differ");
}

#[test]
fn large_chunked_body_to_slow_upstream() {
    const LEN: usize = 4 * 1024 * 1024;
    let up = slow_checking_upstream();
    let tern = Cfg::new(up.addr).start();
    let body = pattern(LEN, 11);
    let mut c = tern.connect();
    c.set_read_timeout(Duration::from_secs(30));
    let mut writer = c.stream.try_clone().unwrap();
    let b2 = body.clone();
    let t = thread::spawn(move || {
        writer
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        writer
            .write_all(b"POST /bigch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")?;
        // Uneven chunk sizes.
        let mut off = 0;
        let mut size = 1;
        while off < b2.len() {
            let n = size.min(b2.len() - off);
            writer.write_all(format!("{:x}\r\n", n).as_bytes())?;
            writer.write_all(&b2[off..off + n])?;
            writer.write_all(b"\r\n")?;
            off += n;
            size = (size * 3 + 7) % 300_000 + 1;
        }
        writer.write_all(b"0\r\n\r\n")?;
        Ok::<(), std::io::Error>(())
    });
    let r = c
        .read_response_to("POST")
        .expect("response to the big chunked POST");
    t.join().unwrap().expect("writing the body");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), LEN.to_string());
    let seen = one_request(&up);
    assert_eq!(seen.body.len(), LEN);
    assert!(seen.body == body, "body bytes differ");
}

#[test]
fn bodies_on_one_connection_keep_framing() {
    // A body followed by another request on the same client connection:
    // the second request must not be swallowed into the first body.
    let up = RecordingUpstream::echo();
    let tern = Cfg::new(up.addr).start();
    let mut c = tern.connect();
    for i in 0..5 {
        let body = format!("body number {}", i);
        let r = c.roundtrip(&post("/b", body.as_bytes()));
        assert_eq!(r.body_str(), body);
    }
    assert_eq!(up.request_count(), 5);
}

/// Fails if tern buffers the whole request body before forwarding: the
/// client only sends the rest after the upstream has seen the first part.
/// Past one buffer by length (a smaller one is read whole first: timeouts.rs),
/// any size chunked.
#[test]
fn request_body_is_streamed_not_buffered() {
    for chunked in [false, true] {
        let up = RecordingUpstream::echo();
        let tern = Cfg::new(up.addr).start();
        let mut c = tern.connect();
        let first = pattern(1000, 21);
        let rest = pattern(if chunked { 9000 } else { 99_000 }, 22);
        let (head, part1, part2): (String, Vec<u8>, Vec<u8>) = if chunked {
            let mut p1 = format!("{:x}\r\n", first.len()).into_bytes();
            p1.extend_from_slice(&first);
            p1.extend_from_slice(b"\r\n");
            let mut p2 = format!("{:x}\r\n", rest.len()).into_bytes();
            p2.extend_from_slice(&rest);
            p2.extend_from_slice(b"\r\n0\r\n\r\n");
            (
                "POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
                p1,
                p2,
            )
        } else {
            (
                "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".into(),
                first.clone(),
                rest.clone(),
            )
        };
        c.send(head.as_bytes());
        c.send(&part1);
        let streamed = wait_until(Duration::from_secs(3), || {
            up.conn_count() > 0 && contains(&up.conn_bytes(0), &first)
        });
        assert!(
            streamed,
            "(chunked: {}) upstream didn't get the first part of the body before the rest was sent",
            chunked
        );
        c.send(&part2);
        let r = c.read_response_to("POST").expect("response");
        let mut whole = first.clone();
        whole.extend_from_slice(&rest);
        assert!(r.body == whole, "(chunked: {}) body differs", chunked);
    }
}
