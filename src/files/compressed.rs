//! Sending a file compressed (a route's `compress`, when no `.gz` beside
//! it was chosen): read in steps, compressed, sent once half a big buffer
//! has gathered; chunked to HTTP/1.1 clients, delimited by closing to
//! HTTP/1.0 ones. Boxed by the caller: its state never sits in the futures
//! of connections that don't compress.

use std::time::Duration;

use super::disk;
use super::reply::FileBody;
use super::send_error::SendError;
use crate::buffer::{self, BIG_BUF_SIZE};
use crate::compress::{Encoder, Encoding};
use crate::conn::downstream::Downstream;
use crate::timer::timeout;

/// How a file is compressed and framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compressed {
    pub encoding: Encoding,
    pub chunked: bool,
}

/// Sends `head`, then `body` compressed.
pub async fn send<C: Downstream>(
    client: &mut C,
    head: Vec<u8>,
    body: &FileBody,
    how: Compressed,
    wait: Duration,
) -> Result<(), SendError> {
    let mut encoder = Encoder::new(how.encoding);
    let mut wire = buffer::take_big();
    wire.extend_from_slice(&head);
    buffer::give(head);
    let mut piece = buffer::take();
    let mut reader = disk::Reader::new(&body.file);
    let end = body.start + body.len;
    let mut offset = body.start;
    while offset < end {
        let room = piece.capacity();
        let want = usize::try_from(end - offset).map_or(room, |n| n.min(room));
        piece.clear();
        let (read, back) = reader.read_at(piece, offset, want).await;
        piece = back;
        let read = read.map_err(SendError::File)?;
        if read == 0 {
            return Err(SendError::Truncated);
        }
        encoder.write(&piece).map_err(SendError::File)?;
        encoder.drain(&mut wire, how.chunked);
        offset += read as u64;
        if wire.len() >= BIG_BUF_SIZE / 2 {
            wire = write(client, wire, wait).await?;
        }
    }
    buffer::give(piece);
    encoder
        .finish(&mut wire, how.chunked)
        .map_err(SendError::File)?;
    let wire = write(client, wire, wait).await?;
    buffer::give(wire);
    Ok(())
}

/// Writes `wire` and hands it back emptied.
async fn write<C: Downstream>(
    client: &mut C,
    wire: Vec<u8>,
    wait: Duration,
) -> Result<Vec<u8>, SendError> {
    let written = timeout(wait, client.write_owned(wire)).await;
    let Ok((Ok(()), mut wire)) = written else {
        return Err(SendError::Client);
    };
    wire.clear();
    Ok(wire)
}
