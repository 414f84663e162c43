//! One new connection: TCP connect, TLS 1.3 handshake (resumed unless
//! `--full`), one `Connection: close` request, its whole response.

use super::settings::Settings;
use super::verifier::SignatureOnly;
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Nothing a healthy server on loopback takes this long for.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// A response larger than this is not what the benchmark asks for.
const MAX_RESPONSE: usize = 1 << 20;

pub struct Exchange {
    target: SocketAddr,
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    request: Vec<u8>,
}

/// When each part ended (the connect started at the caller's `started`).
pub struct Timings {
    pub connected: Instant,
    pub shaken: Instant,
    pub answered: Instant,
    pub resumed: bool,
}

impl Exchange {
    pub fn new(s: &Settings) -> Result<Exchange, String> {
        let provider = rustls::crypto::ring::default_provider();
        let verifier = SignatureOnly {
            algorithms: provider.signature_verification_algorithms,
        };
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| format!("TLS client setup: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        if s.full {
            config.resumption = Resumption::disabled();
        }
        let server_name = ServerName::try_from(s.server_name.clone())
            .map_err(|_| format!("--server-name `{}` is not a DNS name", s.server_name))?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            s.path, s.server_name
        );
        Ok(Exchange {
            target: s.target,
            config: Arc::new(config),
            server_name,
            request: request.into_bytes(),
        })
    }

    /// Runs one connection; an error names the part that failed.
    pub fn once(&self) -> Result<Timings, &'static str> {
        let mut sock =
            TcpStream::connect_timeout(&self.target, IO_TIMEOUT).map_err(|_| "connect")?;
        let connected = Instant::now();
        sock.set_nodelay(true).map_err(|_| "connect")?;
        sock.set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|_| "connect")?;
        sock.set_write_timeout(Some(IO_TIMEOUT))
            .map_err(|_| "connect")?;
        let mut tls = ClientConnection::new(self.config.clone(), self.server_name.clone())
            .map_err(|_| "tls setup")?;
        while tls.is_handshaking() {
            tls.complete_io(&mut sock).map_err(|_| "handshake")?;
        }
        let shaken = Instant::now();
        let resumed = tls.handshake_kind() == Some(HandshakeKind::Resumed);
        tls.writer()
            .write_all(&self.request)
            .map_err(|_| "request")?;
        while tls.wants_write() {
            tls.write_tls(&mut sock).map_err(|_| "request")?;
        }
        let response = read_response(&mut tls, &mut sock)?;
        let answered = Instant::now();
        if !response.starts_with(b"HTTP/1.1 200") {
            return Err("status");
        }
        tls.send_close_notify();
        // The server closes after a `close` response; a failed alert is moot.
        let _ = tls.write_tls(&mut sock);
        Ok(Timings {
            connected,
            shaken,
            answered,
            resumed,
        })
    }
}

/// Reads until the response is complete: its Content-Length is in, or
/// (without one) the server closed.
fn read_response(
    tls: &mut ClientConnection,
    sock: &mut TcpStream,
) -> Result<Vec<u8>, &'static str> {
    let mut response = Vec::with_capacity(1024);
    loop {
        let closed = tls.read_tls(sock).map_err(|_| "response")? == 0;
        tls.process_new_packets().map_err(|_| "response tls")?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match tls.reader().read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return Err("response"),
            }
        }
        if response.len() > MAX_RESPONSE {
            return Err("response too large");
        }
        match complete_length(&response) {
            Some(len) if response.len() >= len => return Ok(response),
            _ if closed => return complete_at_close(response),
            _ => {}
        }
    }
}

/// The closing side's view: a response with a head is complete at EOF
/// unless its Content-Length promised more.
fn complete_at_close(response: Vec<u8>) -> Result<Vec<u8>, &'static str> {
    match complete_length(&response) {
        Some(len) if response.len() < len => Err("response cut short"),
        _ if response.is_empty() => Err("no response"),
        _ => Ok(response),
    }
}

/// Head length plus Content-Length, once the head is complete and has one.
fn complete_length(response: &[u8]) -> Option<usize> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = parsed.parse(response).ok()? else {
        return None;
    };
    let length = parsed
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))?;
    let length: usize = std::str::from_utf8(length.value)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(head + length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_complete_when_its_content_length_is_in() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(complete_length(head), Some(head.len() + 5));
        assert_eq!(complete_length(b"HTTP/1.1 200 OK\r\nContent-Le"), None);
        assert_eq!(complete_length(b"HTTP/1.1 200 OK\r\n\r\n"), None);
    }

    #[test]
    fn a_close_before_the_promised_length_is_an_error() {
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab".to_vec();
        assert_eq!(complete_at_close(short), Err("response cut short"));
        assert_eq!(complete_at_close(Vec::new()), Err("no response"));
        let unframed = b"HTTP/1.1 200 OK\r\n\r\nabc".to_vec();
        assert!(complete_at_close(unframed).is_ok());
    }
}
