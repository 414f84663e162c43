//! The TLS handshake on a newly accepted connection, bounded by the client
//! header timeout. A failure closes only this connection.
//!
//! The client's hello is read first, on its own (rustls's `Acceptor`): its
//! cipher suites pick the listener's configuration (`tls::ServerTls`), and
//! the handshake goes on with that one.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::server::{Accepted, AcceptedAlert, Acceptor};
use rustls::{ClientConfig, ServerConnection};

use crate::buffer;
use crate::conn::Conn;
use crate::http::status::error_response;
use crate::tls::session::TlsSession;
use crate::tls::ServerTls;

/// Completes the handshake, or `None` (already logged at debug level).
pub async fn accept_tls(stream: TcpStream, tls: Arc<ServerTls>, limit: Duration) -> Option<Conn> {
    let handshake = async move {
        let mut stream = stream;
        // Boxed: the hello's reader is large, and only lives this long.
        let session = Box::pin(take_hello(&mut stream, &tls)).await?;
        let mut conn = Conn::with_tls(stream, TlsSession::server(session));
        drive(&mut conn).await?;
        Ok::<_, io::Error>(conn)
    };
    match crate::timer::timeout(limit, handshake).await {
        Ok(Ok(conn)) => Some(conn),
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

/// What the bytes read so far make of a client's hello.
enum Hello {
    NeedMore,
    Taken(Box<Accepted>),
    Refused(rustls::Error, AcceptedAlert),
}

/// Reads the client's hello and makes the server side of the connection
/// with the configuration its cipher suites pick. A plain-HTTP client gets
/// a readable 400, a bad hello its alert.
async fn take_hello(stream: &mut TcpStream, tls: &ServerTls) -> io::Result<ServerConnection> {
    let mut acceptor = Acceptor::default();
    let mut first = true;
    loop {
        let (result, raw) = stream.read(buffer::take()).await;
        let hello = match result {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) if first && looks_like_plain_http(&raw) => Err(refuse_plain_http(stream).await),
            Ok(_) => feed_hello(&mut acceptor, &raw),
            Err(err) => Err(err),
        };
        buffer::give(raw);
        first = false;
        let (err, alert) = match hello? {
            Hello::NeedMore => continue,
            Hello::Refused(err, alert) => (err, alert),
            Hello::Taken(accepted) => {
                let config = tls.for_client(accepted.client_hello().cipher_suites());
                match accepted.into_connection(config.clone()) {
                    Ok(conn) => return Ok(conn),
                    Err(refused) => refused,
                }
            }
        };
        return Err(send_alert(stream, alert, err).await);
    }
}

fn feed_hello(acceptor: &mut Acceptor, mut bytes: &[u8]) -> io::Result<Hello> {
    while !bytes.is_empty() {
        acceptor.read_tls(&mut bytes)?;
    }
    Ok(match acceptor.accept() {
        Ok(None) => Hello::NeedMore,
        Ok(Some(accepted)) => Hello::Taken(Box::new(accepted)),
        Err((err, alert)) => Hello::Refused(err, alert),
    })
}

/// Sends the alert that says why the hello was refused; returns the error.
async fn send_alert(
    stream: &mut TcpStream,
    mut alert: AcceptedAlert,
    err: rustls::Error,
) -> io::Error {
    let mut records = Vec::new();
    if alert.write_all(&mut records).is_ok() && !records.is_empty() {
        let _ = stream.write_all(records).await;
    }
    io::Error::new(io::ErrorKind::InvalidData, err)
}

/// The client side, towards a TLS backend (the caller bounds the time).
pub async fn connect_tls(
    stream: TcpStream,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
) -> io::Result<Conn> {
    let session = TlsSession::client(config, name)?;
    let mut conn = Conn::upstream_tls(stream, session);
    drive(&mut conn).await?;
    Ok(conn)
}

/// Runs a handshake to its end.
async fn drive(conn: &mut Conn) -> io::Result<()> {
    loop {
        conn.flush_tls().await?;
        let handshaking = conn.tls_mut().is_some_and(|tls| tls.is_handshaking());
        if !handshaking {
            return Ok(());
        }
        let (result, raw) = conn.stream.read(buffer::take()).await;
        let fed = match result {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => feed(conn, &raw),
            Err(err) => Err(err),
        };
        buffer::give(raw);
        if let Err(err) = fed {
            // Send the alert that says why, where there is one.
            let _ = conn.flush_tls().await;
            return Err(err);
        }
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
async fn refuse_plain_http(stream: &mut TcpStream) -> io::Error {
    let _ = stream.write_all(error_response(400, true)).await;
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
