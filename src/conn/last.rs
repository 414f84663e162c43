//! A connection's last write: the response that ends it, sent together with
//! its FIN.
//!
//! Through the ring, the response goes out when the worker next enters the
//! kernel and the FIN only a pass of the event loop later, once the task
//! has seen the write complete and dropped the socket. A client reading in
//! between wakes for the response, finds no end yet, and sleeps again until
//! the FIN comes: two wake-ups per connection, and a connection slot held a
//! loop pass longer. With two workers sharing a CPU that pass can be a
//! scheduler slice, and `close` (a new connection per request) showed it:
//! p99 10–13 ms against nginx's 3–6 (bench/README.md, *Connection per
//! request*). nginx writes and closes in two system calls back to back;
//! `write_last` does the same on a plain connection: a non-blocking send of
//! what the socket takes at once, then `shutdown(SHUT_WR)`.

use std::io;
use std::os::fd::AsRawFd;

use super::pieces::Pieces;
use super::Conn;

impl Conn {
    /// Writes `bytes`, the last this connection carries, then ends its
    /// sending side (plain connections; a TLS one only writes, its
    /// close_notify follows). Hands `bytes` back.
    pub async fn write_last(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        if self.is_tls() {
            return self.write_owned(bytes).await;
        }
        let (written, pieces) = self.write_last_pieces(Pieces::whole(bytes)).await;
        (written, pieces.join())
    }

    /// `write_last` for a response in pieces (one `sendmsg`), on a plain
    /// connection.
    pub(super) async fn write_last_pieces(&mut self, pieces: Pieces) -> (io::Result<()>, Pieces) {
        let fd = self.stream.as_raw_fd();
        let sent = match crate::peek::send_parts_now(fd, &pieces.parts()) {
            Ok(sent) => sent,
            Err(err) => return (Err(err), pieces),
        };
        self.note_written(sent);
        let (written, pieces) = if sent < pieces.len() {
            // The socket's buffer is full: the rest waits through the ring.
            Box::pin(self.write_unsent(pieces, sent)).await
        } else {
            (Ok(()), pieces)
        };
        if written.is_ok() {
            crate::peek::end_sending(fd);
        }
        (written, pieces)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use crate::conn::pair::{read_to_end, with_pair};

    #[test]
    fn the_peer_reads_the_response_and_its_end_while_the_conn_is_still_open() {
        with_pair(async |mut conn, mut peer| {
            let (written, _) = conn.write_last(b"HTTP/1.1 200 OK\r\n\r\n".to_vec()).await;
            written.expect("written");
            // `conn` is alive: only the FIN that `write_last` sent can end
            // this read (else it fails at the read timeout).
            let mut got = Vec::new();
            peer.read_to_end(&mut got).expect("read to the end");
            assert_eq!(got, b"HTTP/1.1 200 OK\r\n\r\n");
            assert_eq!(conn.sent(), 19);
            drop(conn);
        });
    }

    #[test]
    fn a_response_larger_than_the_socket_takes_at_once_arrives_whole() {
        with_pair(async |mut conn, peer| {
            let big: Vec<u8> = (0..8 << 20).map(|i: u32| i as u8).collect();
            let reader = read_to_end(peer);
            let (written, back) = conn.write_last(big).await;
            written.expect("written");
            let got = reader.join().expect("reader").expect("read to the end");
            assert_eq!(got.len(), back.len());
            assert!(got == back, "the bytes arrived in order");
            assert_eq!(conn.sent(), back.len() as u64);
        });
    }

    #[test]
    fn a_response_in_pieces_arrives_in_order_and_then_its_end() {
        with_pair(async |mut conn, peer| {
            // More than the socket takes at once: the rest goes through the ring.
            let (pieces, expected) = crate::conn::pair::pieces(8 << 20, 1 << 20);
            let reader = read_to_end(peer);
            let (written, _) = conn.write_last_pieces(pieces).await;
            written.expect("written");
            // The end of the stream came from `write_last_pieces` (the conn
            // is still open), else this read fails at its timeout.
            let got = reader.join().expect("reader").expect("read to the end");
            assert!(got == expected, "the bytes arrived in order");
            assert_eq!(conn.sent(), expected.len() as u64);
            drop(conn);
        });
    }
}
