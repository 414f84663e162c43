//! Long-lived WebSockets through tern: a message every 2 s, each echo
//! checked. A tunnel that breaks is opened again.

use super::exchange::{connect, Conn};
use super::{Held, Shared};
use crate::clock::mono_ns;
use crate::httpclient::read_response;
use crate::rng::{random_bytes, random_u64};
use crate::tally::io_kind;
use crate::wsframe::{self, OP_BINARY, OP_CLOSE, OP_TEXT};
use monoio::time::timeout;
use std::rc::Rc;
use std::time::Duration;

const EVERY: Duration = Duration::from_secs(2);
const WAIT: Duration = Duration::from_secs(10);

pub async fn websocket(i: usize, sh: Rc<Shared>) {
    monoio::time::sleep(super::held::stagger(i, sh.s.websockets)).await;
    while sh.ledger.running() {
        let since = mono_ns();
        let mut conn = match open(&sh).await {
            Ok(conn) => conn,
            Err(cause) => {
                sh.ledger.fail("websocket", cause, since);
                monoio::time::sleep(super::held::BACKOFF).await;
                continue;
            }
        };
        let _held = Held::new(&sh, "websocket");
        let mut seq = 0u64;
        while sh.ledger.running() {
            monoio::time::sleep(EVERY).await;
            let since = mono_ns();
            match echo(&mut conn, format!("soak {i}:{seq}").as_bytes()).await {
                Ok(()) => sh.ledger.ok("ws-echo"),
                Err(cause) => {
                    sh.ledger.fail("websocket", cause, since);
                    break;
                }
            }
            seq += 1;
        }
    }
}

/// Connects and upgrades; checks the 101 and Sec-WebSocket-Accept.
async fn open(sh: &Shared) -> Result<Conn, &'static str> {
    let mut conn = connect(sh.s.target).await?;
    let key = wsframe::client_key(random_bytes());
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    conn.send(request.into_bytes()).await?;
    let response = match timeout(WAIT, read_response(&mut conn.stream, &mut conn.buf)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Err(io_kind(&e)),
        Err(_) => return Err("handshake timeout"),
    };
    if response.status != 101 {
        return Err(super::requests::status_cause(response.status));
    }
    if response.header("sec-websocket-accept") != Some(&wsframe::accept_key(&key)) {
        return Err("bad accept key");
    }
    Ok(conn)
}

/// Sends one masked text frame and reads until its echo.
async fn echo(conn: &mut Conn, message: &[u8]) -> Result<(), &'static str> {
    let mut frame = Vec::new();
    let mask = random_u64().to_le_bytes();
    let mask = [mask[0], mask[1], mask[2], mask[3]];
    wsframe::write_frame(&mut frame, true, OP_TEXT, message, Some(mask));
    conn.send(frame).await?;
    let give_up = monoio::time::Instant::now() + WAIT;
    loop {
        let header = match wsframe::parse_header(conn.buf.data(), 1 << 20) {
            Ok(Some(h)) if conn.buf.data().len() >= h.frame_len() => h,
            Ok(_) => match monoio::time::timeout_at(give_up, conn.buf.fill(&mut conn.stream)).await
            {
                Err(_) => return Err("timeout"),
                Ok(Ok(0)) => return Err("closed"),
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(io_kind(&e)),
            },
            Err(_) => return Err("bad frame"),
        };
        let body = conn.buf.data()[header.header_len..header.frame_len()].to_vec();
        conn.buf.consume(header.frame_len());
        match header.opcode {
            OP_TEXT | OP_BINARY if body == message => return Ok(()),
            OP_TEXT | OP_BINARY => return Err("wrong echo"),
            OP_CLOSE => return Err("closed"),
            _ => {}
        }
    }
}
