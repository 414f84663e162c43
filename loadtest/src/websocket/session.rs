//! One WebSocket client: handshake, then a sender task writing masked
//! messages on a schedule and this task reading echoes in order.

use super::stats::{bump, Stats};
use crate::buf::ReadBuf;
use crate::gate::Gate;
use crate::httpclient::read_response;
use crate::net::{connect_from, source_ip};
use crate::rng::{random_bytes, random_u64};
use crate::tally::io_kind;
use crate::wsframe::{self, OP_BINARY, OP_CLOSE, OP_TEXT};
use monoio::io::{AsyncWriteRentExt, OwnedReadHalf, OwnedWriteHalf, Splitable};
use monoio::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What every session shares.
pub struct Plan {
    pub target: SocketAddr,
    pub path: String,
    pub size: usize,
    pub rate: f64,
    pub duration: Duration,
    pub sources: usize,
    pub connections: usize,
    /// Opens when all sessions have finished their handshakes.
    pub gate: Gate,
    pub window_start: Cell<Instant>,
}

/// After the window, how long to wait for the last echoes and the close.
const GRACE: Duration = Duration::from_secs(5);

/// Messages sent and not yet echoed: sequence number and send time.
type InFlight = Rc<RefCell<VecDeque<(u64, Instant)>>>;

pub async fn run(i: usize, plan: Rc<Plan>, stats: Rc<Stats>) {
    let established = establish(i, &plan).await;
    bump(&stats.settled);
    let (stream, buf) = match established {
        Ok(ok) => ok,
        Err(kind) => return stats.errors.borrow_mut().add(kind),
    };
    bump(&stats.established);
    plan.gate.wait().await;
    if let Err(kind) = exchange(i, stream, buf, &plan, &stats).await {
        stats.errors.borrow_mut().add(kind);
    }
    bump(&stats.finished);
}

/// Connects and upgrades; checks the 101 and Sec-WebSocket-Accept.
async fn establish(i: usize, plan: &Plan) -> Result<(TcpStream, ReadBuf), &'static str> {
    let source = source_ip(i, plan.sources);
    let mut stream = connect_from(source, plan.target)
        .await
        .map_err(|_| "connect")?;
    let key = wsframe::client_key(random_bytes());
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        plan.path, plan.target
    );
    let (res, _) = stream.write_all(request.into_bytes()).await;
    res.map_err(|e| io_kind(&e))?;
    let mut buf = ReadBuf::with_capacity(1024);
    let response = read_response(&mut stream, &mut buf)
        .await
        .map_err(|e| io_kind(&e))?;
    let accept_ok = response.header("sec-websocket-accept") == Some(&wsframe::accept_key(&key));
    if response.status != 101 || !accept_ok {
        return Err("handshake");
    }
    Ok((stream, buf))
}

/// The message window: send on schedule, match echoes, close cleanly.
async fn exchange(
    i: usize,
    stream: TcpStream,
    buf: ReadBuf,
    plan: &Rc<Plan>,
    stats: &Rc<Stats>,
) -> Result<(), &'static str> {
    let (reader, writer) = stream.into_split();
    let in_flight = InFlight::default();
    let sender = monoio::spawn(send(
        i,
        writer,
        in_flight.clone(),
        plan.clone(),
        stats.clone(),
    ));
    let received = receive(i, reader, buf, &in_flight, plan, stats).await;
    let sent = sender.await;
    received.and(sent)
}

/// The payload of message `seq` on connection `conn`: recognisable and
/// different per message, so a misrouted or stale echo is caught.
pub fn payload(conn: usize, seq: u64, size: usize) -> Vec<u8> {
    let mut p = format!("{conn}:{seq}:").into_bytes();
    let fill = (b'a'..=b'z')
        .cycle()
        .skip((conn as u64 + seq) as usize % 26);
    p.extend(fill.take(size.saturating_sub(p.len())));
    p.truncate(size);
    p
}

async fn send(
    i: usize,
    mut writer: OwnedWriteHalf<TcpStream>,
    in_flight: InFlight,
    plan: Rc<Plan>,
    stats: Rc<Stats>,
) -> Result<(), &'static str> {
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let count = (plan.duration.as_secs_f64() * plan.rate).floor() as u64;
    // Spread connections over one period so N clients don't fire together.
    let phase = period.mul_f64(i as f64 / plan.connections as f64);
    let start = plan.window_start.get() + phase;
    let mut frame = Vec::new();
    for seq in 0..count {
        let at = start + period.mul_f64(seq as f64);
        monoio::time::sleep_until(monoio::time::Instant::from_std(at)).await;
        frame.clear();
        let mask = random_u64().to_le_bytes();
        let mask = [mask[0], mask[1], mask[2], mask[3]];
        wsframe::write_frame(
            &mut frame,
            true,
            OP_TEXT,
            &payload(i, seq, plan.size),
            Some(mask),
        );
        in_flight.borrow_mut().push_back((seq, Instant::now()));
        let (res, f) = writer.write_all(frame).await;
        frame = f;
        res.map_err(|e| io_kind(&e))?;
        bump(&stats.sent);
    }
    frame.clear();
    let mask = random_bytes::<4>();
    wsframe::write_frame(
        &mut frame,
        true,
        OP_CLOSE,
        &1000u16.to_be_bytes(),
        Some(mask),
    );
    writer.write_all(frame).await.0.map_err(|e| io_kind(&e))?;
    Ok(())
}

/// Reads echoes until the server echoes our close.
async fn receive(
    i: usize,
    mut reader: OwnedReadHalf<TcpStream>,
    mut buf: ReadBuf,
    in_flight: &InFlight,
    plan: &Plan,
    stats: &Stats,
) -> Result<(), &'static str> {
    let give_up = plan.window_start.get() + plan.duration + GRACE;
    let give_up = monoio::time::Instant::from_std(give_up);
    loop {
        let header = match wsframe::parse_header(buf.data(), 1 << 24) {
            Ok(Some(h)) if buf.data().len() >= h.frame_len() => h,
            Ok(_) => {
                let read = monoio::time::timeout_at(give_up, buf.fill(&mut reader)).await;
                match read {
                    Err(_) => return Err("timeout"),
                    Ok(Ok(0)) => return Err("reset"),
                    Ok(Ok(_)) => continue,
                    Ok(Err(e)) => return Err(io_kind(&e)),
                }
            }
            Err(_) => return Err("protocol"),
        };
        if header.mask.is_some() || !header.fin {
            // Servers never mask; our messages are never fragmented.
            return Err("protocol");
        }
        let body = &buf.data()[header.header_len..header.frame_len()];
        match header.opcode {
            OP_TEXT | OP_BINARY => check_echo(i, body, in_flight, plan, stats),
            OP_CLOSE => return Ok(()),
            _ => {} // ping/pong: nothing to measure
        }
        buf.consume(header.frame_len());
    }
}

fn check_echo(i: usize, body: &[u8], in_flight: &InFlight, plan: &Plan, stats: &Stats) {
    let Some((seq, sent_at)) = in_flight.borrow_mut().pop_front() else {
        bump(&stats.mismatches);
        return;
    };
    if body == payload(i, seq, plan.size) {
        bump(&stats.echoed);
        let us = sent_at.elapsed().as_micros() as u64;
        stats.rtt.borrow_mut().saturating_record(us.max(1));
    } else {
        bump(&stats.mismatches);
    }
}

#[cfg(test)]
mod tests {
    use super::payload;

    #[test]
    fn payloads_have_the_size_and_differ() {
        assert_eq!(payload(3, 7, 32).len(), 32);
        assert_eq!(payload(3, 7, 2), b"3:");
        assert_ne!(payload(3, 7, 32), payload(3, 8, 32));
        assert_ne!(payload(3, 7, 32), payload(4, 7, 32));
    }
}
