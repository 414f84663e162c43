//! Opening a connection to an upstream server, bounded by the connect timeout.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use monoio::net::TcpStream;

#[derive(Debug)]
pub enum ConnectError {
    /// Refused, unreachable, reset: try another server, else 502.
    Failed(io::Error),
    /// No answer within the connect timeout: 504.
    TimedOut,
}

pub async fn connect(addr: SocketAddr, limit: Duration) -> Result<TcpStream, ConnectError> {
    match crate::timer::timeout(limit, TcpStream::connect_addr(addr)).await {
        Err(_elapsed) => Err(ConnectError::TimedOut),
        Ok(Err(err)) => {
            if crate::rlimit::is_exhaustion(&err) {
                crate::rlimit::exhausted("connect", &err);
            }
            Err(ConnectError::Failed(err))
        }
        Ok(Ok(stream)) => {
            crate::rlimit::descriptors_available();
            // Heads and small bodies go out in one write; don't let Nagle hold them.
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
    }
}
