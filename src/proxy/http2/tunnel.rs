//! A WebSocket over an HTTP/2 stream (RFC 8441), after the upstream's 101:
//! DATA from the client goes to the upstream as bytes, the upstream's bytes
//! go back as DATA, until both sides have ended or nothing moved for the
//! tunnel timeout. As in `proxy::tunnel`, the upstream is waited on by
//! readiness, so an idle WebSocket stream holds no buffer; the client's
//! window is given back as the upstream takes its bytes. A write not taken
//! within the tunnel timeout (an upstream that stopped reading, a client
//! that keeps its window shut) ends the tunnel.

use std::time::Duration;

use bytes::Bytes;

use super::response::Framing;
use super::stream::H2Stream;
use crate::buffer::BUF_SIZE;
use crate::conn::Conn;

enum Event {
    Client(Option<Result<Bytes, h2::Error>>),
    Upstream,
    Idle,
}

pub async fn run(stream: &mut H2Stream, upstream: &mut Conn, idle: Duration) {
    // Bytes the upstream sent right after its 101.
    let early = upstream.buffered().len();
    if early > 0 && !taken(idle, stream.take_from_upstream(upstream, early)).await {
        return;
    }
    let mut client_open = true;
    let mut upstream_open = true;
    while client_open || upstream_open {
        let event = monoio::select! {
            data = stream.recv.data(), if client_open => Event::Client(data),
            ready = upstream.readable(), if upstream_open => match ready {
                Ok(()) => Event::Upstream,
                Err(_) => return,
            },
            _ = crate::timer::sleep(idle) => Event::Idle,
        };
        match event {
            Event::Idle => return,
            Event::Client(Some(Ok(data))) => {
                let n = data.len();
                let write = async { upstream.write_owned(Vec::from(data)).await.0 };
                if !taken(idle, write).await {
                    return;
                }
                let _ = stream.recv.flow_control().release_capacity(n);
            }
            Event::Client(None) => {
                client_open = false;
                let _ = upstream.shutdown_write().await;
            }
            Event::Client(Some(Err(_))) => return,
            Event::Upstream => match upstream.fill(BUF_SIZE).await {
                Ok(0) | Err(_) => {
                    upstream_open = false;
                    if stream.end().is_err() {
                        return;
                    }
                }
                Ok(n) => {
                    if !taken(idle, stream.take_from_upstream(upstream, n)).await {
                        return;
                    }
                }
            },
        }
    }
    stream.out = Framing::Done;
}

/// Whether `write` completed, and within `idle`.
async fn taken(
    idle: Duration,
    write: impl std::future::Future<Output = std::io::Result<()>>,
) -> bool {
    matches!(crate::timer::timeout(idle, write).await, Ok(Ok(())))
}
