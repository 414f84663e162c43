//! Slowloris: connections that send a request head one byte a second.
//! tern must cut each within its `client_header` timeout (408 or a close);
//! one still open well after that is a failure.

use super::exchange::connect;
use super::{Held, Shared};
use crate::clock::mono_ns;
use monoio::time::timeout;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How late tern may be in cutting a slow head.
const SLACK: Duration = Duration::from_secs(3);

pub async fn slowloris(i: usize, sh: Rc<Shared>) {
    monoio::time::sleep(super::held::stagger(i, sh.s.slowloris)).await;
    while sh.ledger.running() {
        let since = mono_ns();
        match slow_head(&sh).await {
            Ok(()) => sh.ledger.ok("slowloris-cut"),
            Err(cause) => sh.ledger.fail("slowloris", cause, since),
        }
    }
}

async fn slow_head(sh: &Rc<Shared>) -> Result<(), &'static str> {
    let mut conn = connect(sh.s.target).await?;
    let _held = Held::new(sh, "slowloris");
    let opened = Instant::now();
    if conn
        .send(b"GET /slow HTTP/1.1\r\nHost: soak\r\nX-Slow: ".to_vec())
        .await
        .is_err()
    {
        return Ok(());
    }
    let limit = sh.s.header_timeout + SLACK;
    while opened.elapsed() < limit {
        // Anything from tern (a 408) or the close ends it.
        match timeout(Duration::from_secs(1), conn.buf.fill(&mut conn.stream)).await {
            Ok(_) => return Ok(()),
            Err(_) => {
                if conn.send(b"a".to_vec()).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    Err("outlived the header timeout")
}
