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
//!
//! The watch also reads SETTINGS payloads for the one value `h2` answers
//! with the wrong code: an initial window size over 2^31−1, which RFC 9113
//! §6.5.2 makes a FLOW_CONTROL_ERROR (`h2` says PROTOCOL_ERROR). That read
//! is withheld from `h2` and the connection ends with the RFC's code.

use std::cell::Cell;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use h2::Reason;

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
const ACK: u8 = 0x1;
/// SETTINGS_INITIAL_WINDOW_SIZE, and the largest window RFC 9113 allows.
const INITIAL_WINDOW_SIZE: u16 = 0x4;
const MAX_WINDOW: u32 = (1 << 31) - 1;
/// Bytes of one SETTINGS entry: a 16-bit identifier, a 32-bit value.
const SETTING_LEN: usize = 6;

/// Set once a connection's client broke a rule tern enforces itself, with
/// the code its GOAWAY carries.
#[derive(Default)]
pub struct Calm {
    tripped: Cell<Option<Reason>>,
    waker: Cell<Option<Waker>>,
    /// A whole frame head came after the preface (the client's SETTINGS,
    /// RFC 9113 §3.4): `h2` takes the preface alone as the handshake.
    heard: Cell<bool>,
}

impl Calm {
    /// Ends the connection with `reason` (also for `tasks`' budget of
    /// resets).
    pub(super) fn trip(&self, reason: Reason) {
        self.tripped.set(Some(reason));
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    pub fn tripped(&self) -> bool {
        self.tripped.get().is_some()
    }

    /// Whether a frame followed the client's preface.
    pub fn heard(&self) -> bool {
        self.heard.get()
    }

    /// Ready once tripped, with the GOAWAY's code.
    pub fn poll_tripped(&self, cx: &mut Context<'_>) -> Poll<Reason> {
        if let Some(reason) = self.tripped.get() {
            return Poll::Ready(reason);
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
    /// Inside a SETTINGS payload: the entry being read.
    setting: Option<([u8; SETTING_LEN], usize)>,
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
            setting: None,
        }
    }

    /// Follows the frames in `bytes` (the next bytes from the client),
    /// tripping `calm` when too many make no progress. `Some(n)` when only
    /// the first `n` bytes may reach `h2`: what precedes a SETTINGS frame
    /// the connection ends for.
    pub fn see(&mut self, bytes: &[u8], calm: &Calm) -> Option<usize> {
        let mut at = 0;
        // Where the current frame began in `bytes` (0: before them).
        let mut frame_start = 0;
        while at < bytes.len() {
            let rest = &bytes[at..];
            if self.skip > 0 {
                let n = self.skip.min(rest.len());
                if self.setting.is_some() && self.bad_setting(&rest[..n]) {
                    calm.trip(Reason::FLOW_CONTROL_ERROR);
                    return Some(frame_start);
                }
                self.skip -= n;
                at += n;
                continue;
            }
            if self.have == 0 {
                frame_start = at;
            }
            let n = (FRAME_HEAD - self.have).min(rest.len());
            self.head[self.have..self.have + n].copy_from_slice(&rest[..n]);
            self.have += n;
            at += n;
            if self.have < FRAME_HEAD {
                return None;
            }
            self.have = 0;
            calm.heard.set(true);
            let [l0, l1, l2, kind, flags, ..] = self.head;
            let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
            self.skip = len;
            self.setting = (kind == SETTINGS && flags & ACK == 0).then_some(([0; SETTING_LEN], 0));
            if no_progress(kind, flags, len) && self.over_rate() {
                calm.trip(Reason::ENHANCE_YOUR_CALM);
            }
        }
        None
    }

    /// Reads SETTINGS payload bytes entry by entry: true at an initial
    /// window size over the largest window.
    fn bad_setting(&mut self, payload: &[u8]) -> bool {
        let Some((entry, have)) = self.setting.as_mut() else {
            return false;
        };
        for &byte in payload {
            entry[*have] = byte;
            *have += 1;
            if *have < SETTING_LEN {
                continue;
            }
            *have = 0;
            let [i0, i1, v0, v1, v2, v3] = *entry;
            let value = u32::from_be_bytes([v0, v1, v2, v3]);
            if u16::from_be_bytes([i0, i1]) == INITIAL_WINDOW_SIZE && value > MAX_WINDOW {
                return true;
            }
        }
        false
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A SETTINGS frame carrying `entries` (identifier, value).
    fn settings(entries: &[(u16, u32)]) -> Vec<u8> {
        let len = entries.len() * SETTING_LEN;
        let mut frame = vec![0, 0, len as u8, SETTINGS, 0, 0, 0, 0, 0];
        for (id, value) in entries {
            frame.extend_from_slice(&id.to_be_bytes());
            frame.extend_from_slice(&value.to_be_bytes());
        }
        frame
    }

    fn after_preface() -> FrameWatch {
        let mut watch = FrameWatch::new(10_000);
        assert_eq!(watch.see(super::super::PREFACE, &Calm::default()), None);
        watch
    }

    #[test]
    fn an_initial_window_over_the_largest_is_withheld_from_the_frame_on() {
        let calm = Calm::default();
        let mut watch = after_preface();
        // A frame before it (an empty WINDOW_UPDATE header is enough here).
        let mut bytes = vec![0, 0, 0, WINDOW_UPDATE, 0, 0, 0, 0, 0];
        let before_len = bytes.len();
        bytes.extend(settings(&[
            (0x3, 100),
            (INITIAL_WINDOW_SIZE, MAX_WINDOW + 1),
        ]));
        assert_eq!(watch.see(&bytes, &calm), Some(before_len));
        assert_eq!(calm.tripped.get(), Some(Reason::FLOW_CONTROL_ERROR));
    }

    #[test]
    fn a_bad_entry_split_over_reads_is_still_seen() {
        let calm = Calm::default();
        let mut watch = after_preface();
        let frame = settings(&[(INITIAL_WINDOW_SIZE, u32::MAX)]);
        assert_eq!(watch.see(&frame[..12], &calm), None);
        assert_eq!(watch.see(&frame[12..], &calm), Some(0));
        assert!(calm.tripped());
    }

    #[test]
    fn the_largest_window_and_other_settings_pass() {
        let calm = Calm::default();
        let mut watch = after_preface();
        let frame = settings(&[(INITIAL_WINDOW_SIZE, MAX_WINDOW), (0x5, u32::MAX)]);
        assert_eq!(watch.see(&frame, &calm), None);
        // A DATA frame's payload is not read as settings.
        let mut data = vec![0, 0, 6, DATA, 0, 0, 0, 0, 1];
        data.extend_from_slice(&[0, 4, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(watch.see(&data, &calm), None);
        assert!(!calm.tripped());
    }
}
