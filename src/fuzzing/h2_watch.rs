//! A client's HTTP/2 byte stream, read in pieces of any size, through the
//! frame watch `io` runs on every read before `h2` sees it
//! (`proxy::http2::watch`). The watch is a parser of hostile input that
//! keeps state across reads; this target checks that the reads a stream
//! arrives in never change its verdict, and that the verdict is the one a
//! plain walk over whole frames gives.

use std::task::{Context, Poll, Waker};

use h2::Reason;

use crate::proxy::http2::watch::{Calm, FrameWatch};
use crate::proxy::http2::PREFACE;

/// A no-progress limit no input can reach, so the rate limit (which reads
/// the clock) never trips and the reference needn't model time.
const NO_RATE_LIMIT: u32 = u32::MAX;
const FRAME_HEAD: usize = 9;
const SETTINGS: u8 = 0x4;
const ACK: u8 = 0x1;
const SETTING_LEN: usize = 6;
const INITIAL_WINDOW_SIZE: u16 = 0x4;
const MAX_WINDOW: u32 = 0x7fff_ffff;

/// The first byte says how many read sizes follow (1 to 4), each byte a
/// read's size (0: an empty read, as at end of stream), used in turn until
/// the stream is fed; the rest is what the client sends after the preface,
/// which is put in front so the watch's skip of it is fed in pieces too.
pub fn h2_watch(data: &[u8]) {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 4) + 1;
    if rest.len() < count {
        return;
    }
    let (sizes, after_preface) = rest.split_at(count);
    let stream = [PREFACE, after_preface].concat();
    let expected = reference(&stream);

    let whole = feed(&stream, &[stream.len()]);
    let want_whole = expected.map(|bad| (Reason::FLOW_CONTROL_ERROR, bad.frame_start));
    assert_eq!(
        whole.verdict(),
        want_whole,
        "fed whole, against the reference"
    );

    let sizes: Vec<usize> = sizes.iter().map(|&size| usize::from(size)).collect();
    if sizes.iter().all(|&size| size == 0) {
        return;
    }
    let pieces = feed(&stream, &sizes);
    // Bytes already passed can't be taken back: when the bad entry arrives
    // in a read after the one its frame began in, the watch stops at that
    // read's start. `h2` acts on whole frames only, so it still never sees
    // the bad one; what precedes the frame always passes.
    let want_pieces = expected.map(|bad| {
        let read_start = read_start_of(bad.entry_end - 1, &sizes);
        (Reason::FLOW_CONTROL_ERROR, bad.frame_start.max(read_start))
    });
    assert_eq!(pieces.verdict(), want_pieces, "fed in reads of {sizes:?}");
    assert_eq!(
        pieces.reason, whole.reason,
        "the reads changed the tripped reason"
    );
}

/// What one stream fed to one watch came to.
#[derive(Debug)]
struct Fed {
    /// The code `calm` was tripped with, if any.
    reason: Option<Reason>,
    /// The stream offset from which `see` withheld bytes, if it did.
    stop: Option<usize>,
}

impl Fed {
    fn verdict(&self) -> Option<(Reason, usize)> {
        match (self.reason, self.stop) {
            (None, None) => None,
            (Some(reason), Some(stop)) => Some((reason, stop)),
            (reason, stop) => panic!("tripped {reason:?} but withheld from {stop:?}"),
        }
    }
}

/// Feeds `stream` to a new watch in reads of `sizes` (in turn), as `io`
/// does, stopping as `io` does once the watch has tripped.
fn feed(stream: &[u8], sizes: &[usize]) -> Fed {
    let calm = Calm::default();
    let mut watch = FrameWatch::new(NO_RATE_LIMIT);
    let mut at = 0;
    for &size in sizes.iter().cycle() {
        let read = &stream[at..(at + size).min(stream.len())];
        if let Some(keep) = watch.see(read, &calm) {
            assert!(
                keep <= read.len(),
                "kept {keep} of a {}-byte read",
                read.len()
            );
            return Fed {
                reason: reason(&calm),
                stop: Some(at + keep),
            };
        }
        at += read.len();
        if at == stream.len() || calm.tripped() {
            break;
        }
    }
    Fed {
        reason: reason(&calm),
        stop: None,
    }
}

fn reason(calm: &Calm) -> Option<Reason> {
    match calm.poll_tripped(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(reason) => Some(reason),
        Poll::Pending => None,
    }
}

/// The start of the read (of `sizes`, in turn) that carries stream byte
/// `offset`.
fn read_start_of(offset: usize, sizes: &[usize]) -> usize {
    let mut start = 0;
    // Ends: the caller's sizes are not all 0.
    for turn in 0.. {
        let size = sizes[turn % sizes.len()];
        if offset < start + size {
            break;
        }
        start += size;
    }
    start
}

/// Where the first bad SETTINGS entry is in a stream.
#[derive(Clone, Copy)]
struct BadEntry {
    /// The offset of its frame's head.
    frame_start: usize,
    /// The offset just past the entry.
    entry_end: usize,
}

/// The reference: walks whole frames after the preface (a 9-byte head:
/// 24-bit payload length, type, flags, 31-bit stream id) and reads each
/// non-ACK SETTINGS payload in 6-byte entries (16-bit id, 32-bit value),
/// for the first initial window size (id 0x4) over 2^31−1. A frame cut
/// short by the stream's end is read as far as it goes.
fn reference(stream: &[u8]) -> Option<BadEntry> {
    let mut at = PREFACE.len();
    while let Some(head) = stream.get(at..at + FRAME_HEAD) {
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let payload_start = at + FRAME_HEAD;
        let payload = &stream[payload_start..(payload_start + len).min(stream.len())];
        if kind == SETTINGS && flags & ACK == 0 {
            for (i, entry) in payload.chunks_exact(SETTING_LEN).enumerate() {
                let id = u16::from_be_bytes([entry[0], entry[1]]);
                let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
                if id == INITIAL_WINDOW_SIZE && value > MAX_WINDOW {
                    return Some(BadEntry {
                        frame_start: at,
                        entry_end: payload_start + (i + 1) * SETTING_LEN,
                    });
                }
            }
        }
        at = payload_start + len;
    }
    None
}
