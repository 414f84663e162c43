//! Frames of no progress: a client may send PING, SETTINGS, WINDOW_UPDATE,
//! PRIORITY, empty DATA and frames of types HTTP/2 doesn't define (which
//! are ignored) without end, each costing tern a little work (an ACK to
//! write, a table to update) and moving no request forward. `h2` bounds
//! empty DATA frames and keeps one PING or SETTINGS ACK owed at a time,
//! but bounds none of them per second; this watch follows the frame
//! headers in the bytes `io` hands to `h2` and, past the connection's
//! limit (`[server.http2] no_progress_frames_per_second`, read when the
//! connection starts), trips the connection's `Calm`, on which `serve`
//! ends it with GOAWAY ENHANCE_YOUR_CALM (as `h2` does for rapid resets).
//!
//! Real clients send few such frames: SETTINGS and its ACK once, a
//! WINDOW_UPDATE per half window consumed, a PING now and then, PRIORITY
//! hints per request at most.

use std::cell::Cell;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

const FRAME_HEAD: usize = 9;
const DATA: u8 = 0x0;
const PRIORITY: u8 = 0x2;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const WINDOW_UPDATE: u8 = 0x8;
/// The last frame type RFC 9113 defines (CONTINUATION); `h2` ignores
/// any other.
const LAST_KNOWN: u8 = 0x9;
const END_STREAM: u8 = 0x1;

/// Set once a connection's client went over a limit tern enforces itself.
#[derive(Default)]
pub struct Calm {
    tripped: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Calm {
    fn trip(&self) {
        self.tripped.set(true);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    pub fn tripped(&self) -> bool {
        self.tripped.get()
    }

    /// Ready once tripped.
    pub fn poll_tripped(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.tripped.get() {
            return Poll::Ready(());
        }
        self.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// Follows frame boundaries in the client's byte stream.
pub struct FrameWatch {
    /// Bytes of the current frame's payload (or of the preface) to pass.
    skip: usize,
    head: [u8; FRAME_HEAD],
    have: usize,
    /// Frames of no progress since `since`, and how many a second pass.
    count: u32,
    since: Option<Instant>,
    limit: u32,
}

impl FrameWatch {
    /// A watch allowing `limit` frames of no progress a second.
    pub fn new(limit: u32) -> Self {
        FrameWatch {
            skip: super::PREFACE.len(),
            head: [0; FRAME_HEAD],
            have: 0,
            count: 0,
            since: None,
            limit,
        }
    }

    /// Follows the frames in `bytes` (the next bytes from the client),
    /// tripping `calm` when too many make no progress.
    pub fn see(&mut self, mut bytes: &[u8], calm: &Calm) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (FRAME_HEAD - self.have).min(bytes.len());
            self.head[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have < FRAME_HEAD {
                return;
            }
            self.have = 0;
            let [l0, l1, l2, kind, flags, ..] = self.head;
            let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
            self.skip = len;
            if no_progress(kind, flags, len) && self.over_rate() {
                calm.trip();
            }
        }
    }

    /// Counts one frame of no progress; true when the count passes the
    /// limit within a second. The clock is read once per `limit` frames.
    fn over_rate(&mut self) -> bool {
        let since = *self.since.get_or_insert_with(Instant::now);
        self.count += 1;
        if self.count <= self.limit {
            return false;
        }
        let now = Instant::now();
        if now.duration_since(since).as_secs() < 1 {
            return true;
        }
        self.since = Some(now);
        self.count = 1;
        false
    }
}

fn no_progress(kind: u8, flags: u8, len: usize) -> bool {
    match kind {
        DATA => len == 0 && flags & END_STREAM == 0,
        PRIORITY | SETTINGS | PING | WINDOW_UPDATE => true,
        kind => kind > LAST_KNOWN,
    }
}
