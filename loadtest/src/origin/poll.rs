//! The long-poll endpoint: hold the request until a publish or a timeout.

use super::conn::Conn;
use super::pubsub::{Local, Message};
use monoio::io::Canceller;
use std::io;
use std::pin::pin;
use std::time::{Duration, Instant};

pub enum Outcome {
    Published(Message),
    TimedOut,
    /// The client closed or reset the connection while waiting.
    Gone,
}

/// Waits on `channel` for up to `timeout`, watching the socket meanwhile
/// so a client that leaves frees its subscription right away instead of
/// holding it until the timeout (minutes, with thousands of clients).
pub async fn wait(
    conn: &mut Conn,
    local: &Local,
    channel: &str,
    timeout: Duration,
) -> io::Result<Outcome> {
    conn.flush().await?;
    let sub = local.subscribe(channel);
    let deadline = monoio::time::Instant::from_std(Instant::now() + timeout);
    loop {
        // Pipelined bytes after a long-poll are kept, but not without bound.
        let watch = conn.input.data().len() < crate::http::MAX_HEAD;
        let canceller = Canceller::new();
        let handle = canceller.handle();
        let (input, stream) = (&mut conn.input, &mut conn.stream);
        let mut read = pin!(async move {
            if watch {
                input.fill_cancelable(stream, handle).await
            } else {
                std::future::pending().await
            }
        });
        let event = monoio::select! {
            m = sub.recv() => Some(Outcome::Published(m)),
            _ = monoio::time::sleep_until(deadline) => Some(Outcome::TimedOut),
            r = &mut read => match r {
                Ok(0) | Err(_) => Some(Outcome::Gone),
                Ok(_) => None,
            },
        };
        let Some(outcome) = event else { continue };
        if watch && !matches!(outcome, Outcome::Gone) {
            // Reclaim the buffer from the in-flight read before moving on.
            let _ = canceller.cancel();
            let _ = read.await;
        }
        return Ok(outcome);
    }
}
