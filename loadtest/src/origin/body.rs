//! Reading request bodies, by Content-Length or chunked.

use super::conn::Conn;
use crate::chunked::ChunkedDecoder;
use crate::http::Framing;
use std::io;

pub enum BodyError {
    /// Bad chunked framing: answered with 400.
    Malformed(&'static str),
    /// The connection failed or ended mid-body: nothing to answer.
    Io(io::Error),
}

impl From<io::Error> for BodyError {
    fn from(e: io::Error) -> Self {
        BodyError::Io(e)
    }
}

/// Reads the whole body, handing each piece to `sink`; returns its length.
pub async fn read_body(
    conn: &mut Conn,
    framing: Framing,
    sink: &mut impl FnMut(&[u8]),
) -> Result<u64, BodyError> {
    match framing {
        Framing::Empty | Framing::UntilClose => Ok(0),
        Framing::Length(n) => Ok(read_length(conn, n, sink).await.map(|_| n)?),
        Framing::Chunked => read_chunked(conn, sink).await,
    }
}

async fn read_length(
    conn: &mut Conn,
    mut left: u64,
    sink: &mut impl FnMut(&[u8]),
) -> io::Result<()> {
    loop {
        let data = conn.input.data();
        let n = (data.len() as u64).min(left) as usize;
        sink(&data[..n]);
        conn.input.consume(n);
        left -= n as u64;
        if left == 0 {
            return Ok(());
        }
        conn.fill_more().await?;
    }
}

async fn read_chunked(conn: &mut Conn, sink: &mut impl FnMut(&[u8])) -> Result<u64, BodyError> {
    let mut decoder = ChunkedDecoder::default();
    let mut total = 0u64;
    loop {
        let used = decoder
            .decode(conn.input.data(), &mut |piece| {
                total += piece.len() as u64;
                sink(piece);
            })
            .map_err(|e| BodyError::Malformed(e.0))?;
        conn.input.consume(used);
        if decoder.is_done() {
            return Ok(total);
        }
        conn.fill_more().await?;
    }
}
