//! Static files while they are being sent: a file that shrinks mid-send
//! closes the connection (never a short body passed off as complete); one
//! that is unlinked mid-send is still sent whole (the open file lives on).

mod common;
mod static_site;

use std::time::Duration;

use common::*;
use static_site::*;

/// Larger than loopback's socket buffers together, so most of it is still
/// unsent when the client stops reading.
const SIZE: usize = 48 << 20;

#[test]
fn a_file_truncated_mid_send_closes_the_connection() {
    let root = TempDir::new("truncate");
    let path = root.write("big.bin", &pattern(SIZE, 9));
    let tern = serve(&root, "");
    let mut c = tern.connect();
    c.send(&get("/static/big.bin"));
    let head = parse_head(&c.read_head_raw().expect("head")).expect("parses");
    assert_eq!(head.content_length(), Some(SIZE));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(1 << 20).expect("truncate");
    c.set_read_timeout(Duration::from_secs(10));
    let (body, ended) = c.read_to_eof();
    // Closed (EOF, or a reset), not left hanging until the read timeout.
    let timed_out = ended.as_ref().is_err_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    });
    assert!(
        !timed_out,
        "the connection stayed open after the file shrank"
    );
    assert!(
        body.len() < SIZE,
        "a truncated file sent {} bytes",
        body.len()
    );
    assert!(logged(&tern, &["shrank or vanished", "big.bin"]));
}

#[test]
fn a_file_unlinked_mid_send_is_still_sent_whole() {
    let root = TempDir::new("unlink");
    let body = pattern(8 << 20, 4);
    let path = root.write("big.bin", &body);
    let tern = serve(&root, "");
    let mut c = tern.connect();
    c.send(&get("/static/big.bin"));
    let head = parse_head(&c.read_head_raw().expect("head")).expect("parses");
    std::fs::remove_file(&path).expect("unlink");
    let received = c
        .read_exact_n(head.content_length().expect("length"))
        .expect("body");
    assert!(received == body, "body differs");
    // And the connection goes on.
    assert_eq!(c.roundtrip(&get("/static/big.bin")).status, 404);
}

#[test]
fn a_stalled_client_does_not_stall_others() {
    let root = TempDir::new("stall");
    root.write("big.bin", &pattern(SIZE, 2));
    root.write("small.txt", b"small");
    let tern = Tern::start(
        &config(Some("/static/"), &root.path, "").replace("workers = 2", "workers = 1"),
    );
    let mut stalled = tern.connect();
    stalled.send(&get("/static/big.bin"));
    let _ = stalled.read_head_raw().expect("head");
    // The one worker is mid-transfer to a client that reads nothing.
    let mut other = tern.connect();
    other.set_read_timeout(Duration::from_secs(3));
    assert_eq!(other.roundtrip(&get("/static/small.txt")).body, b"small");
}
