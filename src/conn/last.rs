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

use super::Conn;

impl Conn {
    /// Writes `bytes`, the last this connection carries, then ends its
    /// sending side (plain connections; a TLS one only writes, its
    /// close_notify follows). Hands `bytes` back.
    pub async fn write_last(&mut self, bytes: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        if self.is_tls() {
            return self.write_owned(bytes).await;
        }
        let fd = self.stream.as_raw_fd();
        let sent = match crate::peek::send_now(fd, &bytes) {
            Ok(sent) => sent,
            Err(err) => return (Err(err), bytes),
        };
        self.note_written(sent);
        let (written, bytes) = if sent < bytes.len() {
            // The socket's buffer is full: the rest waits through the ring.
            let len = bytes.len();
            self.write_range(bytes, sent..len).await
        } else {
            (Ok(()), bytes)
        };
        if written.is_ok() {
            crate::peek::end_sending(fd);
        }
        (written, bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use super::*;

    /// Runs `test` with a `Conn` whose peer is a blocking std socket.
    fn with_pair(test: impl AsyncFnOnce(Conn, std::net::TcpStream)) {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime");
        rt.block_on(async move {
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
        with_pair(async |mut conn, mut peer| {
            let big: Vec<u8> = (0..8 << 20).map(|i: u32| i as u8).collect();
            let reader = std::thread::spawn(move || {
                let mut got = Vec::new();
                peer.read_to_end(&mut got).map(|_| got)
            });
            let (written, back) = conn.write_last(big).await;
            written.expect("written");
            let got = reader.join().expect("reader").expect("read to the end");
            assert_eq!(got.len(), back.len());
            assert!(got == back, "the bytes arrived in order");
            assert_eq!(conn.sent(), back.len() as u64);
        });
    }
}
