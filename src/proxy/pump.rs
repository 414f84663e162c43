//! Moving a body from one side of an exchange to the other: one copy of the
//! length and chunked loops, for the request body (client → upstream, in
//! `exchange`) and the response body (upstream → client, in `relay`).
//!
//! A `Pipe` is one direction: its source's read buffer, a way to read more,
//! and a way to hand bytes to its sink (forwarded as they are, or written
//! after re-framing). Each direction knows its own waits, so the loops here
//! hold no timing of their own, and a `Stop` says which side gave out; the
//! caller turns that into its `Failure`. Every write returns only once the
//! sink has taken the bytes, so a slow side holds the other back instead of
//! tern buffering without bound.

use std::os::fd::RawFd;
use std::time::Duration;

use crate::buffer::{self, BIG_BUF_SIZE, BUF_SIZE};
use crate::conn::downstream::Downstream;
use crate::conn::Conn;
use crate::http::chunked::{ChunkError, ChunkedReframer};
use crate::timer::timeout;

use super::early_answer::{self, Abandoned};

/// Input fed to a chunked decoder at once, so its re-framed output stays
/// within one big buffer.
pub const FEED_MAX: usize = BIG_BUF_SIZE / 4;

/// Why a transfer stopped short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The source closed, failed or went quiet past its wait.
    Source,
    /// The sink failed, or its early answer ended the transfer
    /// (`early_answer`).
    Sink,
    /// The sink didn't take the bytes within its wait.
    SinkTimedOut,
    /// The source's chunk framing is broken.
    Framing,
    /// The source's chunked body went past the decoder's limit.
    TooLarge,
}

/// One direction of a body transfer.
#[allow(async_fn_in_trait)] // static dispatch only
pub trait Pipe {
    /// Bytes read from the source and not yet handed on.
    fn pending(&self) -> &[u8];
    fn consume(&mut self, n: usize);
    /// Reads more from the source; nothing more is a `Stop::Source`.
    async fn fill(&mut self) -> Result<(), Stop>;
    /// Hands the first `n` pending bytes to the sink as they are.
    async fn forward(&mut self, n: usize) -> Result<(), Stop>;
    /// Writes `bytes` to the sink and hands the buffer back.
    async fn write(&mut self, bytes: Vec<u8>) -> (Result<(), Stop>, Vec<u8>);
}

/// Moves exactly `remaining` bytes through.
pub async fn pump_length<P: Pipe>(pipe: &mut P, mut remaining: u64) -> Result<(), Stop> {
    while remaining > 0 {
        if pipe.pending().is_empty() {
            pipe.fill().await?;
        }
        let take = pipe
            .pending()
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        pipe.forward(take).await?;
        remaining -= take as u64;
    }
    Ok(())
}

/// How a chunked transfer stopped short, and whether the sink had any of
/// it (a response not begun can still be answered with an error).
#[derive(Debug, Clone, Copy)]
pub struct ChunkedStop {
    pub stop: Stop,
    pub wrote: bool,
}

/// Moves a chunked body through `decoder` (re-framed, or decoded only),
/// `out` first: it may already hold bytes to go before the body (a response
/// head). Output is flushed before each wait for the source, so a streamed
/// body reaches the sink promptly, and whenever half a big buffer is ready.
pub async fn pump_chunked<P: Pipe>(
    pipe: &mut P,
    mut decoder: ChunkedReframer,
    mut out: Vec<u8>,
) -> Result<(), ChunkedStop> {
    let mut wrote = false;
    let stopped = |stop, wrote| ChunkedStop { stop, wrote };
    loop {
        let input = &pipe.pending()[..pipe.pending().len().min(FEED_MAX)];
        let consumed = decoder.feed(input, &mut out).map_err(|err| {
            let stop = match err {
                ChunkError::TooLarge => Stop::TooLarge,
                _ => Stop::Framing,
            };
            stopped(stop, wrote)
        })?;
        pipe.consume(consumed);
        let done = decoder.is_done();
        let waits = pipe.pending().is_empty();
        if !out.is_empty() && (done || waits || out.len() >= BIG_BUF_SIZE / 2) {
            let (written, flushed) = pipe.write(out).await;
            written.map_err(|stop| stopped(stop, true))?;
            wrote = true;
            if done {
                buffer::give(flushed);
                return Ok(());
            }
            out = big_and_empty(flushed);
        }
        if done {
            buffer::give(out);
            return Ok(());
        }
        if pipe.pending().is_empty() {
            pipe.fill().await.map_err(|stop| stopped(stop, wrote))?;
        }
    }
}

/// The buffer to re-frame into next: the one just written when it is big,
/// a big one from the pool otherwise (the first may be a head's small one).
fn big_and_empty(mut flushed: Vec<u8>) -> Vec<u8> {
    if flushed.capacity() < BIG_BUF_SIZE {
        buffer::give(flushed);
        return buffer::take_big();
    }
    flushed.clear();
    flushed
}

/// How long each side may take.
#[derive(Clone, Copy)]
pub struct Waits {
    /// For the client to send or take bytes.
    pub client: Duration,
    /// For the upstream to send or take bytes.
    pub upstream: Duration,
}

/// The request body: client → upstream. A write, or a read of the client,
/// that waits is watched for the upstream's early answer (`early_answer`):
/// it ends as a `Stop::Sink` when one comes.
pub struct ToUpstream<'a, C> {
    pub client: &'a mut C,
    pub upstream: &'a mut Conn,
    pub waits: Waits,
}

impl<C: Downstream> Pipe for ToUpstream<'_, C> {
    fn pending(&self) -> &[u8] {
        self.client.buffered()
    }

    fn consume(&mut self, n: usize) {
        self.client.consume(n)
    }

    async fn fill(&mut self) -> Result<(), Stop> {
        let watch = early_answer::watch_of(self.upstream);
        let read = self.client.fill(BUF_SIZE);
        let answer_waits = early_answer::refusal_waits;
        match early_answer::within(self.waits.client, watch, answer_waits, read).await {
            Ok(Ok(n)) if n > 0 => Ok(()),
            Err(Abandoned::AnswerWaits) => Err(Stop::Sink),
            _ => Err(Stop::Source),
        }
    }

    async fn forward(&mut self, n: usize) -> Result<(), Stop> {
        let watch = early_answer::watch_of(self.upstream);
        let sent = self.client.send_buffered(n, self.upstream);
        let answer_waits = early_answer::final_answer_waits;
        match early_answer::within(self.waits.upstream, watch, answer_waits, sent).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(Abandoned::AnswerWaits) => Err(Stop::Sink),
            Err(Abandoned::TimedOut) => Err(Stop::SinkTimedOut),
        }
    }

    async fn write(&mut self, bytes: Vec<u8>) -> (Result<(), Stop>, Vec<u8>) {
        let watch = early_answer::watch_of(self.upstream);
        let written = self.upstream.write_owned(bytes);
        write_within(self.waits.upstream, watch, written).await
    }
}

/// The response body: upstream → client.
pub struct ToClient<'a, C> {
    pub upstream: &'a mut Conn,
    pub client: &'a mut C,
    pub waits: Waits,
}

impl<C: Downstream> Pipe for ToClient<'_, C> {
    fn pending(&self) -> &[u8] {
        self.upstream.buffered()
    }

    fn consume(&mut self, n: usize) {
        self.upstream.consume(n)
    }

    async fn fill(&mut self) -> Result<(), Stop> {
        read_some(self.waits.upstream, self.upstream.fill(BUF_SIZE)).await
    }

    async fn forward(&mut self, n: usize) -> Result<(), Stop> {
        let taken = self.client.take_from(self.upstream, n);
        match timeout(self.waits.client, taken).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::Sink),
            Err(_) => Err(Stop::SinkTimedOut),
        }
    }

    async fn write(&mut self, bytes: Vec<u8>) -> (Result<(), Stop>, Vec<u8>) {
        write_within(self.waits.client, None, self.client.write_owned(bytes)).await
    }
}

async fn read_some(
    wait: Duration,
    read: impl std::future::Future<Output = std::io::Result<usize>>,
) -> Result<(), Stop> {
    match timeout(wait, read).await {
        Ok(Ok(n)) if n > 0 => Ok(()),
        _ => Err(Stop::Source),
    }
}

/// A write that timed out (or was given up for an early answer on
/// `watch`) lost its buffer with its future: an empty one stands in (the
/// transfer is over anyway).
async fn write_within(
    wait: Duration,
    watch: Option<RawFd>,
    write: impl std::future::Future<Output = (std::io::Result<()>, Vec<u8>)>,
) -> (Result<(), Stop>, Vec<u8>) {
    let answer_waits = early_answer::final_answer_waits;
    match early_answer::within(wait, watch, answer_waits, write).await {
        Ok((Ok(()), bytes)) => (Ok(()), bytes),
        Ok((Err(_), bytes)) => (Err(Stop::Sink), bytes),
        Err(Abandoned::AnswerWaits) => (Err(Stop::Sink), Vec::new()),
        Err(Abandoned::TimedOut) => (Err(Stop::SinkTimedOut), Vec::new()),
    }
}

#[cfg(test)]
mod tests;
