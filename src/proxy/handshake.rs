//! The TLS handshake on a newly accepted connection, bounded by the client
//! header timeout. A failure closes only this connection.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};

use crate::buffer;
use crate::conn::Conn;
use crate::http::status::error_response;
use crate::tls::session::TlsSession;

/// Completes the handshake, or `None` (already logged at debug level).
pub async fn accept_tls(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    limit: Duration,
) -> Option<Conn> {
    let session = TlsSession::server(config).ok()?;
    let mut conn = Conn::with_tls(stream, session);
    match crate::timer::timeout(limit, drive(&mut conn, true)).await {
        Ok(Ok(())) => Some(conn),
        Ok(Err(err)) => {
            crate::log::debug(format_args!("TLS handshake failed: {err}"));
            None
        }
        Err(_) => {
            crate::log::debug(format_args!("TLS handshake timed out"));
            None
        }
    }
}

/// The client side, towards a TLS backend (the caller bounds the time).
pub async fn connect_tls(
    stream: TcpStream,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
) -> io::Result<Conn> {
    let session = TlsSession::client(config, name)?;
    let mut conn = Conn::upstream_tls(stream, session);
    drive(&mut conn, false).await?;
    Ok(conn)
}

/// Runs a handshake to its end. `accepting`: the server side, where a
/// plain-HTTP client gets a readable 400.
async fn drive(conn: &mut Conn, accepting: bool) -> io::Result<()> {
    let mut first = accepting;
    loop {
        conn.flush_tls().await?;
        let handshaking = conn.tls_mut().is_some_and(|tls| tls.is_handshaking());
        if !handshaking {
            return Ok(());
        }
        let (result, raw) = conn.stream.read(buffer::take()).await;
        let fed = match result {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) if first && looks_like_plain_http(&raw) => Err(refuse_plain_http(conn).await),
            Ok(_) => feed(conn, &raw),
            Err(err) => Err(err),
        };
        buffer::give(raw);
        if let Err(err) = fed {
            // Send the alert that says why, where there is one.
            let _ = conn.flush_tls().await;
            return Err(err);
        }
        first = false;
    }
}

fn feed(conn: &mut Conn, ciphertext: &[u8]) -> io::Result<()> {
    match conn.tls_mut() {
        Some(tls) => tls.feed(ciphertext),
        None => Ok(()),
    }
}

/// A TLS record starts with a content type byte (0x14..=0x18); a request
/// line starts with an upper-case method.
fn looks_like_plain_http(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(u8::is_ascii_uppercase)
}

/// As nginx does: a plain-HTTP client on a TLS port gets a readable 400.
async fn refuse_plain_http(conn: &mut Conn) -> io::Error {
    let _ = conn.stream.write_all(error_response(400, true)).await;
    io::Error::new(
        io::ErrorKind::InvalidData,
        "plain HTTP sent to a TLS listener",
    )
}

#[cfg(test)]
mod tests {
    use super::looks_like_plain_http;

    #[test]
    fn tells_a_request_line_from_a_client_hello() {
        assert!(looks_like_plain_http(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_plain_http(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(!looks_like_plain_http(b""));
    }
}
