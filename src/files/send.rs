//! Sending a decided reply: the head, then the file bytes — joined to the
//! head in one write when the file is small, else with sendfile behind a
//! head held for its first segment (copied through a buffer on TLS
//! connections, which must encrypt them). A file that ends early closes
//! the connection: a short body is never passed off as complete.

use std::os::fd::AsRawFd;
use std::time::Duration;

use super::copy;
use super::reply::{FileBody, Reply};
use super::send_error::SendError;
use super::sendfile;
use crate::buffer::{self, BUF_SIZE};
use crate::conn::downstream::Downstream;
use crate::conn::Next;
use crate::http::Persist;
use crate::timer::timeout;

/// Sends `reply`; `wait` bounds each wait for the client to take bytes.
pub async fn send<C: Downstream>(client: &mut C, reply: Reply, wait: Duration) -> Next {
    let Reply {
        mut head,
        body,
        persist,
        compressed,
    } = reply;
    if let (Some(how), Some(body)) = (compressed, &body) {
        // Boxed: the encoder's state stays out of plain sends' futures.
        if let Err(err) = Box::pin(super::compressed::send(client, head, body, how, wait)).await {
            log_short(body, &err);
            return Next::Close;
        }
        return next_of(persist);
    }
    let rest = match body {
        // Small enough to share the head's pooled buffer: one write, and
        // cheaper than a separate sendfile.
        Some(body) if head.len() as u64 + body.len <= BUF_SIZE as u64 => {
            let (appended, joined) = copy::append(head, &body).await;
            head = joined;
            if let Err(err) = appended {
                log_short(&body, &err);
                return Next::Close;
            }
            None
        }
        other => other,
    };
    let Some(body) = rest else {
        return match write_head(client, head, wait).await {
            true => next_of(persist),
            false => Next::Close,
        };
    };
    let sent = match client.plain_socket() {
        Some(socket) => {
            let sent = sendfile::send(socket, &head, &body, wait).await;
            buffer::give(head);
            sent
        }
        // TLS or HTTP/2: the file's bytes pass through tern.
        None => match write_head(client, head, wait).await {
            true => copy::send(client, &body, wait).await,
            false => return Next::Close,
        },
    };
    match sent {
        Ok(()) => next_of(persist),
        Err(err) => {
            log_short(&body, &err);
            Next::Close
        }
    }
}

fn next_of(persist: Persist) -> Next {
    match persist {
        Persist::Close => Next::Close,
        Persist::KeepAlive | Persist::KeepAliveHttp10 => Next::KeepAlive,
    }
}

/// Writes the head (and a joined body) and returns its buffer to the pool.
async fn write_head<C: Downstream>(client: &mut C, head: Vec<u8>, wait: Duration) -> bool {
    match timeout(wait, client.write_owned(head)).await {
        Ok((Ok(()), head)) => {
            buffer::give(head);
            true
        }
        _ => false,
    }
}

/// A client that went away is ordinary; a file that changed under a
/// response, or can't be read, is worth a warning.
fn log_short(body: &FileBody, err: &SendError) {
    if matches!(err, SendError::Client) {
        return;
    }
    // The name is looked up only now, on this rare path.
    let fd_link = format!("/proc/self/fd/{}", body.file.as_raw_fd());
    let name = std::fs::read_link(fd_link).unwrap_or_default();
    match err {
        SendError::Truncated => crate::log::warn(format_args!(
            "static {name:?}: the file shrank or vanished while being sent; connection closed"
        )),
        SendError::File(io) => crate::log::warn(format_args!(
            "static {name:?}: read failed while being sent ({io}); connection closed"
        )),
        SendError::Client => {}
    }
}
