//! A rustls connection driven by tern's own buffers.
//!
//! monoio-rustls keeps two 16 KiB buffers in every connection for its whole
//! life; tern's rule is that a waiting connection holds no buffer, so this
//! small driver moves ciphertext through the worker's pooled buffers
//! instead: rustls keeps only its own state between reads.

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConnection};

pub struct TlsSession {
    /// Client side (to a TLS backend) or server side (a TLS listener).
    conn: Connection,
    /// close_notify was queued: it is sent once.
    closing: bool,
    /// Ciphertext read from the socket that rustls would not take yet
    /// (16 KiB of plaintext waited): fed by `feed_kept` once that is read.
    /// At most one socket read; empty (and unallocated) otherwise.
    kept: Vec<u8>,
}

/// rustls refuses more ciphertext while more plaintext than this waits
/// ("received plaintext buffer full"); its limit is not configurable.
const PLAINTEXT_LIMIT: usize = 16 * 1024;

/// What reading decrypted bytes found.
pub enum Plain {
    /// This many bytes were appended.
    Bytes(usize),
    /// Nothing decrypted yet: read more ciphertext.
    NeedMore,
    /// The peer sent close_notify.
    Closed,
}

impl TlsSession {
    /// The server side, its client's hello taken (`proxy::handshake`).
    pub fn server(conn: ServerConnection) -> Self {
        TlsSession {
            conn: conn.into(),
            closing: false,
            kept: Vec::new(),
        }
    }

    /// The client side of a connection to a TLS backend named `name`.
    pub fn client(config: Arc<ClientConfig>, name: ServerName<'static>) -> io::Result<Self> {
        let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
        Ok(TlsSession {
            conn: conn.into(),
            closing: false,
            kept: Vec::new(),
        })
    }

    /// The client and tern agreed on HTTP/2 by ALPN.
    pub fn chose_h2(&self) -> bool {
        self.conn.alpn_protocol() == Some(b"h2")
    }

    /// The client is a TLS-ALPN-01 validator: it and tern agreed on
    /// `acme-tls/1`, which carries no application data (RFC 8737 §3).
    pub fn chose_acme_tls(&self) -> bool {
        self.conn.alpn_protocol() == Some(crate::acme::ACME_TLS_ALPN)
    }

    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    pub fn wants_read(&self) -> bool {
        self.conn.wants_read()
    }

    /// Takes in ciphertext read from the socket, as much as rustls accepts
    /// while decrypted bytes wait to be read; the rest is kept for
    /// `feed_kept` (so a burst of small records after a full one can't
    /// overflow rustls's plaintext buffer). A TLS error is returned after
    /// the alert for it has been queued (send it with `records`).
    pub fn feed(&mut self, ciphertext: &[u8]) -> io::Result<()> {
        let taken = if self.kept.is_empty() {
            self.feed_while_room(ciphertext)?
        } else {
            0
        };
        self.kept.extend_from_slice(&ciphertext[taken..]);
        Ok(())
    }

    /// Feeds kept ciphertext, as `feed` does; false when none was kept.
    pub fn feed_kept(&mut self) -> io::Result<bool> {
        if self.kept.is_empty() {
            return Ok(false);
        }
        let kept = std::mem::take(&mut self.kept);
        let taken = self.feed_while_room(&kept);
        if let Ok(taken) = taken {
            if taken < kept.len() {
                self.kept = kept[taken..].to_vec();
            }
        }
        taken.map(|_| true)
    }

    /// Ciphertext kept by `feed`, for a driver that holds its own (HTTP/2's).
    pub fn take_kept(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.kept)
    }

    /// Feeds `ciphertext` until it is all taken or the plaintext waiting
    /// reaches rustls's limit; returns how much was taken.
    fn feed_while_room(&mut self, ciphertext: &[u8]) -> io::Result<usize> {
        let mut taken = 0;
        while taken < ciphertext.len() && self.plain_waiting() < PLAINTEXT_LIMIT {
            let n = self.feed_some(&ciphertext[taken..])?;
            if n == 0 {
                break;
            }
            taken += n;
        }
        Ok(taken)
    }

    fn plain_waiting(&mut self) -> usize {
        self.conn
            .process_new_packets()
            .map_or(0, |state| state.plaintext_bytes_to_read())
    }

    /// Takes in ciphertext once (one read and its records processed), so
    /// that plaintext can be drained between calls: rustls refuses more
    /// once 16 KiB of plaintext wait. Returns how many bytes it took.
    pub fn feed_some(&mut self, mut ciphertext: &[u8]) -> io::Result<usize> {
        let before = ciphertext.len();
        self.conn.read_tls(&mut ciphertext as &mut dyn Read)?;
        self.conn
            .process_new_packets()
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
        Ok(before - ciphertext.len())
    }

    /// Appends decrypted bytes to `out`, up to its spare capacity.
    pub fn read_plain(&mut self, out: &mut Vec<u8>) -> io::Result<Plain> {
        let len = out.len();
        let spare = out.capacity() - len;
        out.resize(len + spare, 0);
        let result = self.conn.reader().read(&mut out[len..]);
        match result {
            Ok(0) => {
                out.truncate(len);
                Ok(Plain::Closed)
            }
            Ok(n) => {
                out.truncate(len + n);
                Ok(Plain::Bytes(n))
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                out.truncate(len);
                Ok(Plain::NeedMore)
            }
            Err(err) => {
                out.truncate(len);
                Err(err)
            }
        }
    }

    /// Decrypted bytes (or kept ciphertext) are waiting inside the session
    /// (so the socket's readiness says nothing about whether a read would
    /// find data).
    pub fn has_plain(&mut self) -> bool {
        !self.kept.is_empty()
            || self
                .conn
                .process_new_packets()
                .is_ok_and(|state| state.plaintext_bytes_to_read() > 0)
    }

    /// Encrypts `plain` and appends the records to `out`. rustls takes at
    /// most its buffer limit (64 KiB) at a time, so records are drained as
    /// it goes.
    pub fn encrypt(&mut self, mut plain: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        while !plain.is_empty() {
            let taken = self.conn.writer().write(plain)?;
            self.records(out)?;
            if taken == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            plain = &plain[taken..];
        }
        Ok(())
    }

    /// Appends every record rustls wants sent (handshake, alerts, data).
    pub fn records(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(out)?;
        }
        Ok(())
    }

    /// Queues close_notify, once; send it with `records`.
    pub fn close(&mut self) {
        if !std::mem::replace(&mut self.closing, true) {
            self.conn.send_close_notify();
        }
    }

    /// The connection ends abnormally (a response cut short): no
    /// close_notify is said, so the peer sees the end as a truncation
    /// (RFC 8446 §6.1), not as the end of the data.
    pub fn forgo_close_notify(&mut self) {
        self.closing = true;
    }
}
