//! The WebSocket echo endpoint: RFC 6455 handshake, then every data frame
//! goes back unmasked with the same opcode and FIN bit, so fragmented
//! messages round-trip as they came.

use super::conn::{Conn, FLUSH_AT};
use crate::wsframe::{self, FrameError, OP_CLOSE, OP_PING, OP_PONG};
use std::io;

/// Bounds what one frame can make us buffer.
const MAX_PAYLOAD: usize = 16 << 20;

pub async fn serve(conn: &mut Conn, key: &str) -> io::Result<()> {
    let accept = wsframe::accept_key(key);
    conn.out.extend_from_slice(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .as_bytes(),
    );
    loop {
        let header = match wsframe::parse_header(conn.input.data(), MAX_PAYLOAD) {
            Ok(Some(h)) if conn.input.data().len() >= h.frame_len() => h,
            Ok(_) => {
                // Incomplete frame: `fill` sends queued echoes before waiting.
                if conn.fill().await? == 0 {
                    return Ok(());
                }
                continue;
            }
            Err(e) => return protocol_error(conn, e).await,
        };
        let Some(mask) = header.mask else {
            return protocol_error(conn, FrameError("client frame not masked")).await;
        };
        let frame = &mut conn.input.data_mut()[..header.frame_len()];
        let payload = &mut frame[header.header_len..];
        wsframe::apply_mask(payload, mask);
        match header.opcode {
            OP_PING => wsframe::write_frame(&mut conn.out, true, OP_PONG, payload, None),
            OP_PONG => {}
            OP_CLOSE => {
                // Echo the status code back, then close (RFC 6455 §5.5.1).
                wsframe::write_frame(&mut conn.out, true, OP_CLOSE, payload, None);
                return conn.flush().await;
            }
            op => wsframe::write_frame(&mut conn.out, header.fin, op, payload, None),
        }
        conn.input.consume(header.frame_len());
        if conn.out.len() >= FLUSH_AT {
            conn.flush().await?;
        }
        conn.input.shrink_to(64 * 1024);
    }
}

/// Close with 1002 (protocol error) and give up on the connection.
async fn protocol_error(conn: &mut Conn, e: FrameError) -> io::Result<()> {
    let mut payload = 1002u16.to_be_bytes().to_vec();
    payload.extend_from_slice(e.0.as_bytes());
    wsframe::write_frame(&mut conn.out, true, OP_CLOSE, &payload, None);
    conn.flush().await
}
