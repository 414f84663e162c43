use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;

/// A pipe in memory: the source hands out `reads` one per fill, the sink
/// keeps what it got and may refuse after `sink_room` writes.
#[derive(Default)]
struct Fake {
    reads: VecDeque<Vec<u8>>,
    pending: Vec<u8>,
    sunk: Vec<u8>,
    writes: usize,
    sink_room: Option<usize>,
}

impl Fake {
    fn new(reads: &[&[u8]]) -> Self {
        Fake {
            reads: reads.iter().map(|r| r.to_vec()).collect(),
            ..Fake::default()
        }
    }

    fn sink(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        if self.sink_room == Some(self.writes) {
            return Err(Stop::Sink);
        }
        self.writes += 1;
        self.sunk.extend_from_slice(bytes);
        Ok(())
    }
}

impl Pipe for Fake {
    fn pending(&self) -> &[u8] {
        &self.pending
    }

    fn consume(&mut self, n: usize) {
        self.pending.drain(..n);
    }

    async fn fill(&mut self) -> Result<(), Stop> {
        let read = self.reads.pop_front().ok_or(Stop::Source)?;
        self.pending.extend_from_slice(&read);
        Ok(())
    }

    async fn forward(&mut self, n: usize) -> Result<(), Stop> {
        let bytes: Vec<u8> = self.pending.drain(..n).collect();
        self.sink(&bytes)
    }

    async fn write(&mut self, bytes: Vec<u8>) -> (Result<(), Stop>, Vec<u8>) {
        (self.sink(&bytes), bytes)
    }
}

/// The fake never waits: one poll finishes any of these futures.
fn run<T>(future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the fake pipe never waits"),
    }
}

#[test]
fn a_length_moves_exactly_its_bytes_and_leaves_what_follows() {
    let mut pipe = Fake::new(&[b"hel", b"lo, wor", b"ld"]);
    run(pump_length(&mut pipe, 9)).unwrap();
    assert_eq!(pipe.sunk, b"hello, wo");
    assert_eq!(pipe.pending, b"r");
}

#[test]
fn a_length_cut_short_by_the_source_is_a_source_stop() {
    let mut pipe = Fake::new(&[b"abc"]);
    assert_eq!(run(pump_length(&mut pipe, 10)), Err(Stop::Source));
    assert_eq!(pipe.sunk, b"abc");
}

#[test]
fn chunks_are_reframed_after_what_out_already_holds() {
    let mut pipe = Fake::new(&[b"5\r\nhel", b"lo\r\n0\r\n\r\nNEXT"]);
    let out = b"HEAD ".to_vec();
    run(pump_chunked(&mut pipe, ChunkedReframer::default(), out)).unwrap();
    assert_eq!(pipe.sunk, b"HEAD 5\r\nhello\r\n0\r\n\r\n");
    assert_eq!(pipe.pending, b"NEXT", "bytes past the body stay");
}

#[test]
fn chunks_decoded_only_lose_their_framing() {
    let mut pipe = Fake::new(&[b"5\r\nhello\r\n0\r\n\r\n"]);
    run(pump_chunked(
        &mut pipe,
        ChunkedReframer::decode_only(),
        Vec::new(),
    ))
    .unwrap();
    assert_eq!(pipe.sunk, b"hello");
}

#[test]
fn bad_framing_before_any_write_says_nothing_was_written() {
    let mut pipe = Fake::new(&[b"zz\r\n"]);
    let stopped = run(pump_chunked(
        &mut pipe,
        ChunkedReframer::default(),
        Vec::new(),
    ));
    let stopped = stopped.unwrap_err();
    assert_eq!((stopped.stop, stopped.wrote), (Stop::Framing, false));
}

#[test]
fn a_source_that_ends_midway_says_what_was_written() {
    let mut pipe = Fake::new(&[b"5\r\nhello\r\n"]);
    let stopped = run(pump_chunked(
        &mut pipe,
        ChunkedReframer::default(),
        Vec::new(),
    ));
    let stopped = stopped.unwrap_err();
    assert_eq!((stopped.stop, stopped.wrote), (Stop::Source, true));
    assert_eq!(pipe.sunk, b"5\r\nhello\r\n");
}

#[test]
fn a_sink_that_refuses_stops_the_transfer() {
    let mut pipe = Fake::new(&[b"5\r\nhello\r\n", b"0\r\n\r\n"]);
    pipe.sink_room = Some(0);
    let stopped = run(pump_chunked(
        &mut pipe,
        ChunkedReframer::default(),
        Vec::new(),
    ));
    assert_eq!(stopped.unwrap_err().stop, Stop::Sink);
    let mut pipe = Fake::new(&[b"abc"]);
    pipe.sink_room = Some(0);
    assert_eq!(run(pump_length(&mut pipe, 3)), Err(Stop::Sink));
}
