//! Connecting and one request/response with deadlines, for every client
//! kind, with failures named the way the report counts them.

use crate::buf::ReadBuf;
use crate::httpclient::{read_response, Response};
use crate::net::connect_from;
use crate::tally::io_kind;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use monoio::time::timeout;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

pub const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// A connection to tern with its read buffer.
pub struct Conn {
    pub stream: TcpStream,
    pub buf: ReadBuf,
}

pub async fn connect(target: SocketAddr) -> Result<Conn, &'static str> {
    match timeout(CONNECT_WAIT, connect_from(Ipv4Addr::LOCALHOST, target)).await {
        Ok(Ok(stream)) => Ok(Conn {
            stream,
            buf: ReadBuf::with_capacity(4096),
        }),
        Ok(Err(_)) => Err("connect"),
        Err(_) => Err("connect timeout"),
    }
}

impl Conn {
    pub async fn send(&mut self, bytes: Vec<u8>) -> Result<(), &'static str> {
        match timeout(CONNECT_WAIT, self.stream.write_all(bytes)).await {
            Ok((Ok(_), _)) => Ok(()),
            Ok((Err(e), _)) => Err(io_kind(&e)),
            Err(_) => Err("timeout"),
        }
    }

    /// Sends `request` and reads the response within `wait`.
    pub async fn roundtrip(
        &mut self,
        request: Vec<u8>,
        wait: Duration,
    ) -> Result<Response, &'static str> {
        self.send(request).await?;
        match timeout(wait, read_response(&mut self.stream, &mut self.buf)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(io_kind(&e)),
            Err(_) => Err("timeout"),
        }
    }
}

/// The client should close after this response.
pub fn closes(response: &Response) -> bool {
    response
        .header("connection")
        .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

/// Paces a loop at `rate` per second, starting at a fraction `phase` of a
/// period so that clients don't fire together; never bursts to catch up.
pub struct Pace {
    period: Duration,
    next: monoio::time::Instant,
}

impl Pace {
    pub fn new(rate: f64, phase: f64) -> Pace {
        let period = Duration::from_secs_f64(1.0 / rate);
        Pace {
            period,
            next: monoio::time::Instant::now() + period.mul_f64(phase.clamp(0.0, 1.0)),
        }
    }

    pub async fn wait(&mut self) {
        monoio::time::sleep_until(self.next).await;
        let now = monoio::time::Instant::now();
        self.next = (self.next + self.period).max(now);
    }
}
