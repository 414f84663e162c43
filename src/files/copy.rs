//! Sending file bytes through a pooled buffer: a read (`disk`: from the
//! page cache, or through the ring when the disk must be waited for), then
//! a write, in pieces of `BIG_BUF_SIZE`. For TLS connections (the bytes
//! must be encrypted), for the rest of a file `sendfile` found not cached,
//! and the way a small file joins its head in one write.

use std::time::Duration;

use crate::conn::downstream::Downstream;

use super::disk;
use super::reply::FileBody;
use super::send_error::SendError;
use crate::buffer::{self, BIG_BUF_SIZE};
use crate::timer::timeout;

/// Sends the body, each piece within `wait`.
pub async fn send<C: Downstream>(
    client: &mut C,
    body: &FileBody,
    wait: Duration,
) -> Result<(), SendError> {
    send_from(client, body, body.start, wait).await
}

/// Sends the body's bytes from `offset` on.
pub async fn send_from<C: Downstream>(
    client: &mut C,
    body: &FileBody,
    mut offset: u64,
    wait: Duration,
) -> Result<(), SendError> {
    let mut buf = buffer::take_big();
    let mut reader = disk::Reader::new(&body.file);
    let end = body.start + body.len;
    while offset < end {
        let want = usize::try_from(end - offset).map_or(BIG_BUF_SIZE, |n| n.min(BIG_BUF_SIZE));
        buf.clear();
        let (read, back) = reader.read_at(buf, offset, want).await;
        buf = back;
        match read.map_err(SendError::File)? {
            0 => return Err(SendError::Truncated),
            read => offset += read as u64,
        }
        let written = timeout(wait, client.write_owned(buf)).await;
        let Ok((result, back)) = written else {
            return Err(SendError::Client);
        };
        buf = back;
        result.map_err(|_| SendError::Client)?;
    }
    buffer::give(buf);
    Ok(())
}

/// Appends the body to `out` (a small body joining its head) and hands it
/// back. Fails with `Truncated` if the file is shorter than promised by now.
pub async fn append(out: Vec<u8>, body: &FileBody) -> (Result<(), SendError>, Vec<u8>) {
    let Ok(len) = usize::try_from(body.len) else {
        return (Err(SendError::Truncated), out);
    };
    let mut reader = disk::Reader::new(&body.file);
    let (read, out) = reader.read_exact_at(out, body.start, len).await;
    let read = read.map_err(|err| match err.kind() {
        std::io::ErrorKind::UnexpectedEof => SendError::Truncated,
        _ => SendError::File(err),
    });
    (read, out)
}
