//! Held connections: long-polls released by the publisher (or answered 204
//! when their poll times out), and clients that give up on a long-poll
//! halfway and drop the connection, which tern must clean up after.

use super::exchange::{closes, connect, Conn};
use super::requests::status_cause;
use super::{Held, Shared, MESSAGE};
use crate::clock::mono_ns;
use crate::rng::random_u64;
use std::rc::Rc;
use std::time::Duration;

/// The origin holds a poll this long before answering 204.
const POLL_SECS: u64 = 20;
/// A poll answer later than this is a failure.
const POLL_WAIT: Duration = Duration::from_secs(POLL_SECS * 2);
/// After a failure a client waits this long before polling again, as real
/// ones do, rather than spinning while the origin is down.
pub const BACKOFF: Duration = Duration::from_millis(250);

/// The connections open within the first seconds, not all at once.
pub fn stagger(i: usize, n: usize) -> Duration {
    Duration::from_secs(3).mul_f64(i as f64 / n.max(1) as f64)
}

pub async fn long_poll(i: usize, sh: Rc<Shared>) {
    monoio::time::sleep(stagger(i, sh.s.longpolls)).await;
    let request = format!("GET /poll/soak?timeout={POLL_SECS} HTTP/1.1\r\nHost: soak\r\n\r\n");
    let mut slot: Option<(Conn, Held)> = None;
    while sh.ledger.running() {
        let since = mono_ns();
        let (mut conn, held) = match slot.take() {
            Some(open) => open,
            None => match connect(sh.s.target).await {
                Ok(conn) => (conn, Held::new(&sh, "longpoll")),
                Err(cause) => {
                    sh.ledger.fail("longpoll", cause, since);
                    monoio::time::sleep(BACKOFF).await;
                    continue;
                }
            },
        };
        let response = match conn
            .roundtrip(request.clone().into_bytes(), POLL_WAIT)
            .await
        {
            Ok(response) => response,
            Err(cause) => {
                sh.ledger.fail("longpoll", cause, since);
                monoio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        match response.status {
            200 if response.body == MESSAGE.as_bytes() => sh.ledger.ok("longpoll-delivered"),
            200 => sh.ledger.fail("longpoll", "wrong message", since),
            204 => sh.ledger.ok("longpoll-timeout"),
            status => sh.ledger.fail("longpoll", status_cause(status), since),
        }
        if response.status >= 300 {
            monoio::time::sleep(BACKOFF).await;
        } else if !closes(&response) {
            slot = Some((conn, held));
        }
    }
}

/// Starts a long-poll, waits 0.2 to 3 s, and drops the connection.
pub async fn abandoner(i: usize, sh: Rc<Shared>) {
    monoio::time::sleep(stagger(i, sh.s.abandoners)).await;
    let request = b"GET /poll/abandoned?timeout=60 HTTP/1.1\r\nHost: soak\r\n\r\n";
    while sh.ledger.running() {
        let since = mono_ns();
        let result = async {
            let mut conn = connect(sh.s.target).await?;
            let _held = Held::new(&sh, "abandoner");
            conn.send(request.to_vec()).await?;
            let patience = Duration::from_millis(200 + random_u64() % 2800);
            monoio::time::sleep(patience).await;
            Ok::<(), &'static str>(())
        };
        match result.await {
            Ok(()) => sh.ledger.ok("abandoned"),
            Err(cause) => sh.ledger.fail("abandoner", cause, since),
        }
    }
}
