//! Sending file bytes through a pooled buffer: `pread`, then a write, in
//! pieces of `BIG_BUF_SIZE`. For TLS connections (the bytes must be
//! encrypted), and the way a small file joins its head in one write.

use std::os::unix::fs::FileExt;
use std::time::Duration;

use crate::conn::downstream::Downstream;

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
    let mut buf = buffer::take_big();
    buf.resize(BIG_BUF_SIZE, 0);
    let end = body.start + body.len;
    let mut offset = body.start;
    while offset < end {
        let want = usize::try_from(end - offset).map_or(BIG_BUF_SIZE, |n| n.min(BIG_BUF_SIZE));
        let read = body
            .file
            .read_at(&mut buf[..want], offset)
            .map_err(SendError::File)?;
        if read == 0 {
            return Err(SendError::Truncated);
        }
        buf.truncate(read);
        let written = timeout(wait, client.write_owned(buf)).await;
        let Ok((result, back)) = written else {
            return Err(SendError::Client);
        };
        buf = back;
        result.map_err(|_| SendError::Client)?;
        buf.resize(BIG_BUF_SIZE, 0);
        offset += read as u64;
    }
    buffer::give(buf);
    Ok(())
}

/// Appends the body to `out` (a small body joining its head). Fails with
/// `Truncated` if the file is shorter than promised by now.
pub fn append(out: &mut Vec<u8>, body: &FileBody) -> Result<(), SendError> {
    let len = usize::try_from(body.len).map_err(|_| SendError::Truncated)?;
    let from = out.len();
    out.resize(from + len, 0);
    body.file
        .read_exact_at(&mut out[from..], body.start)
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::UnexpectedEof => SendError::Truncated,
            _ => SendError::File(err),
        })
}
