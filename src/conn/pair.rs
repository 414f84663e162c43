//! For tests: a `Conn` on a worker's runtime (io_uring where the kernel
//! allows it) connected to a blocking std socket, and responses in pieces
//! to write on it.

use std::time::Duration;

use super::pieces::Pieces;
use super::Conn;

/// Runs `test` with a `Conn` whose peer is a blocking std socket (reads
/// time out after 10 s, so a missing end fails instead of hanging).
pub fn with_pair(test: impl AsyncFnOnce(Conn, std::net::TcpStream)) {
    let (mut runtime, _) = crate::runtime::build().expect("runtime");
    runtime.block_on(async move {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stream = monoio::net::TcpStream::connect_addr(addr)
            .await
            .expect("connect");
        let (peer, _) = listener.accept().expect("accept");
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        test(Conn::client(stream), peer).await;
    });
}

/// Reads `peer` to its end on a thread of its own, while the test writes.
pub fn read_to_end(
    mut peer: std::net::TcpStream,
) -> std::thread::JoinHandle<std::io::Result<Vec<u8>>> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut peer, &mut got).map(|_| got)
    })
}

/// A response in all three pieces: a head, a body of `in_place` bytes
/// behind 7 bytes of someone else's in its read buffer, and `end` bytes
/// after; and the bytes they make on the wire.
pub fn pieces(in_place: usize, end: usize) -> (Pieces, Vec<u8>) {
    let head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    let body: Vec<u8> = (0..in_place).map(|i| (i % 251) as u8).collect();
    let tail: Vec<u8> = (0..end).map(|i| (i % 241) as u8).collect();
    let mut read = b"ignored".to_vec();
    read.extend_from_slice(&body);
    let mut pieces = Pieces::new(head.clone(), read, 7);
    pieces.make_room(end);
    pieces.end_mut().extend_from_slice(&tail);
    let expected = [head, body, tail].concat();
    (pieces, expected)
}
