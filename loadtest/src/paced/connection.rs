//! One keep-alive connection's share of the schedule: at each of its slots
//! it sends the request (at once if the previous answer came late) and
//! reads the whole answer, timing it from the slot.

use super::schedule::Schedule;
use super::tally::{Tally, Times};
use crate::buf::ReadBuf;
use crate::http::ResponseInfo;
use crate::httpclient::skip_response;
use crate::tally::io_kind;
use monoio::io::AsyncWriteRentExt;
use monoio::net::TcpStream;
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Bytes per read: a 256 KiB body takes four.
const READ_BUFFER: usize = 64 * 1024;

/// What every connection of a run shares.
pub struct Plan {
    pub target: SocketAddr,
    pub schedule: Schedule,
    /// The request, sent as is (`&'static`: monoio's writes own their buffer).
    pub request: &'static [u8],
    /// The longest an answer may take before the connection is dropped.
    pub timeout: Duration,
    /// No request is sent after this; the slots left count as unsent.
    pub give_up_at: Instant,
}

/// Runs connection `conn`'s slots, adding what happens to `tally`.
pub async fn run(plan: &Plan, conn: usize, tally: &RefCell<Tally>) {
    let mut stream = connect(plan.target).await.ok();
    let mut buf = ReadBuf::with_capacity(READ_BUFFER);
    let mut last_answer = plan.schedule.start;
    for k in 0.. {
        let Some(due) = plan.schedule.due(conn, k) else {
            break;
        };
        let now = Instant::now();
        if now > plan.give_up_at {
            let left = (k..).take_while(|&k| plan.schedule.due(conn, k).is_some());
            tally
                .borrow_mut()
                .errors
                .add_n("unsent", left.count() as u64);
            break;
        }
        if due > now {
            monoio::time::sleep_until(monoio::time::Instant::from_std(due)).await;
        }
        if stream.is_none() {
            stream = reconnect(plan, tally).await;
            // Nothing read from the old connection belongs to the new one.
            buf = ReadBuf::with_capacity(READ_BUFFER);
        }
        let Some(s) = stream.as_mut() else {
            continue;
        };
        let times = Times {
            due,
            ready: due.max(last_answer),
            sent: Instant::now(),
            answered: due,
        };
        let answer = monoio::time::timeout(plan.timeout, exchange(s, plan.request, &mut buf)).await;
        last_answer = Instant::now();
        match answer {
            Ok(Ok(info)) => {
                if (200..300).contains(&info.status) {
                    tally.borrow_mut().record(&Times {
                        answered: last_answer,
                        ..times
                    });
                } else {
                    tally.borrow_mut().errors.add("status");
                }
                if info.close {
                    // As wrk does: a new connection at the next slot.
                    stream = None;
                }
            }
            Ok(Err(e)) => {
                tally.borrow_mut().errors.add(io_kind(&e));
                stream = None;
            }
            Err(_) => {
                tally.borrow_mut().errors.add("timeout");
                stream = None;
            }
        }
    }
}

/// A slot with no connection opens a new one first; a failure is that
/// slot's error, so a dead server costs one attempt per slot.
async fn reconnect(plan: &Plan, tally: &RefCell<Tally>) -> Option<TcpStream> {
    let stream = connect(plan.target).await;
    if stream.is_err() {
        tally.borrow_mut().errors.add("connect");
    }
    stream.ok()
}

async fn connect(target: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends the request and reads the answer.
async fn exchange(
    s: &mut TcpStream,
    request: &'static [u8],
    buf: &mut ReadBuf,
) -> io::Result<ResponseInfo> {
    s.write_all(request).await.0?;
    skip_response(s, buf).await
}
