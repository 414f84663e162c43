//! After `101 Switching Protocols`: bytes flow both ways until both sides
//! have closed, or nothing moved for the tunnel timeout.
//!
//! One task serves both directions, waiting for readiness on both sockets
//! and taking a buffer only when bytes are there, so an idle WebSocket holds
//! no buffer. A side's EOF is passed on as a half-close (shutdown of the
//! other side's write half); the other direction keeps flowing. A write the
//! other side doesn't take within the tunnel timeout ends the tunnel too:
//! nothing moves meanwhile, and a client that stopped reading would
//! otherwise hold its upstream connection for ever.

use std::future::Future;
use std::time::Duration;

use crate::buffer::BUF_SIZE;
use crate::conn::Conn;

#[derive(Clone, Copy)]
enum Side {
    Client,
    Upstream,
}

/// Not `async fn`: its arguments would be held twice for the tunnel's life.
#[allow(clippy::manual_async_fn)] // on purpose, as said above
pub fn run<'c, 'u>(
    client: &'c mut Conn,
    upstream: &'u mut Conn,
    idle: Duration,
) -> impl Future<Output = ()> + use<'c, 'u> {
    async move {
        if flush_leftovers(client, upstream, idle).await.is_err() {
            return;
        }
        let mut client_open = true;
        let mut upstream_open = true;
        while client_open || upstream_open {
            let ready = monoio::select! {
                r = client.readable(), if client_open => r.map(|()| Side::Client),
                r = upstream.readable(), if upstream_open => r.map(|()| Side::Upstream),
                _ = crate::timer::sleep(idle) => return,
            };
            let moved = match ready {
                Ok(Side::Client) => pass(client, upstream, idle).await,
                Ok(Side::Upstream) => pass(upstream, client, idle).await,
                Err(_) => return,
            };
            match (ready, moved) {
                (_, Err(())) => return,
                (Ok(Side::Client), Ok(false)) => client_open = false,
                (Ok(Side::Upstream), Ok(false)) => upstream_open = false,
                _ => {}
            }
        }
    }
}

/// Bytes that arrived with the heads: the client's first frames, or the
/// upstream's, read together with the 101.
async fn flush_leftovers(client: &mut Conn, upstream: &mut Conn, idle: Duration) -> Result<(), ()> {
    let from_upstream = upstream.buffered().len();
    if from_upstream > 0 {
        forward(upstream, from_upstream, client, idle).await?;
    }
    let from_client = client.buffered().len();
    if from_client > 0 {
        forward(client, from_client, upstream, idle).await?;
    }
    Ok(())
}

/// `from`'s first `n` buffered bytes written to `to`, if `to` takes them
/// within `idle`.
async fn forward(from: &mut Conn, n: usize, to: &mut Conn, idle: Duration) -> Result<(), ()> {
    match crate::timer::timeout(idle, from.forward_buffered(n, to)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Moves one read's worth from `from` to `to`. `Ok(false)` on EOF, after
/// passing the half-close on.
async fn pass(from: &mut Conn, to: &mut Conn, idle: Duration) -> Result<bool, ()> {
    match from.fill(BUF_SIZE).await {
        Ok(0) => {
            from.release();
            let _ = to.shutdown_write().await;
            Ok(false)
        }
        Ok(_) => {
            let buffered = from.buffered().len();
            // Not through `forward`: inline, its future is the smaller
            // (a tunnel's is held for the WebSocket's life).
            match crate::timer::timeout(idle, from.forward_buffered(buffered, to)).await {
                Ok(Ok(())) => Ok(true),
                _ => Err(()),
            }
        }
        Err(_) => Err(()),
    }
}

/// A WebSocket keeps its tunnel's future, boxed, for its life: keep it
/// small, as `proxy::size_tests` does a connection's.
#[cfg(test)]
mod size_tests {
    use std::time::Duration;

    use crate::conn::Conn;

    /// Bytes of `run`'s future. 504 as an `async fn` (its arguments held
    /// twice); 472 as an `fn` returning its future. What is left is one
    /// read's and one write's operations (`pass`); the write's timeout (a
    /// client that stopped reading held its upstream for ever) took it to
    /// 568.
    const TUNNEL_FUTURE_MAX: usize = 576;

    #[test]
    fn a_tunnel_s_future_stays_small() {
        let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("runtime");
        let size = rt.block_on(async {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr = listener.local_addr().expect("addr");
            let connect = || monoio::net::TcpStream::connect_addr(addr);
            let mut client = Conn::client(connect().await.expect("connect"));
            let mut upstream = Conn::new(connect().await.expect("connect"));
            let tunnel = super::run(&mut client, &mut upstream, Duration::ZERO);
            let size = std::mem::size_of_val(&tunnel);
            drop(tunnel);
            size
        });
        assert!(
            size <= TUNNEL_FUTURE_MAX,
            "a tunnel's future grew to {size} bytes"
        );
    }
}
