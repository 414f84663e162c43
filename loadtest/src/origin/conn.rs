//! One client connection: buffered input, batched output.
//!
//! The rule that keeps pipelining safe is in `fill`: never wait for input
//! while holding unsent output. Responses to a pipelined burst accumulate
//! in `out` and leave in one write when the burst is used up.

use crate::buf::ReadBuf;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use std::io;

/// Output is flushed early past this size, bounding memory per connection.
pub const FLUSH_AT: usize = 64 * 1024;

pub struct Conn {
    pub stream: TcpStream,
    pub input: ReadBuf,
    pub out: Vec<u8>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn {
            stream,
            input: ReadBuf::with_capacity(4096),
            out: Vec::new(),
        }
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let (res, mut out) = self.stream.write_all(std::mem::take(&mut self.out)).await;
        out.clear();
        // Keep a modest buffer for the next response, not a 64 KiB+ one.
        out.shrink_to(FLUSH_AT / 4);
        self.out = out;
        res.map(|_| ())
    }

    /// Flushes pending output, then reads once. Returns 0 at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        self.flush().await?;
        self.input.fill(&mut self.stream).await
    }

    /// Like `fill` but treats end of stream as an error, for callers in the
    /// middle of a message.
    pub async fn fill_more(&mut self) -> io::Result<()> {
        match self.fill().await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}
