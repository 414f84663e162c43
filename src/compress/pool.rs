//! Per-worker pool of gzip compressors, reset and reused between responses.
//!
//! A gzip stream's state is about 420 KiB (zlib's window, hash chains and
//! pending buffer). Made for each response and freed after it, 64 clients
//! fetching compressed pages moved tens of megabytes a second through the
//! allocator, whose arena top then often grew past its trim threshold:
//! glibc gave those pages back (`madvise`) and the next responses faulted
//! them in again, 10-20 page faults per response, which doubled or tripled
//! tern's kernel time per compressed response from one run to the next
//! (bench/README.md, *Compressors kept between responses*). A reset state
//! costs zlib's `deflateReset` (it clears the hash heads) and no memory.
//!
//! The pool keeps what recent concurrency needed: the encoders that sat
//! idle through a whole `PERIOD` (the fewest idle at any moment of it) are
//! freed at its end, and counted as a spill so that the worker gives their
//! pages back once the burst is over (`buffer::trim_after_burst`). So after
//! a burst of compressing responses, the memory it took is held for at
//! most two periods, and never more encoders than were in use at once.
//! Each worker thread has its own pool: no lock.
//!
//! Brotli's encoder (`brotli::CompressorWriter`) can't be reset; it is made
//! per response.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use flate2::write::ZlibEncoder;
use flate2::{Compress, Compression};

/// A gzip compressor writing into its output buffer. flate2's `GzEncoder`
/// can't be reset, so this is its zlib writer around a `Compress` made in
/// gzip mode (zlib's own gzip header and trailer, restarted by a reset).
pub type Gzip = Box<ZlibEncoder<Vec<u8>>>;

/// Encoders idle through a whole period are freed at its end.
const PERIOD: Duration = Duration::from_secs(10);
/// What a gzip state holds, counted as spilled when one is freed (measured
/// by `tests/compress_memory.rs`, see `encoder::MEMORY_BOUND`).
const GZIP_STATE_BYTES: usize = 420 * 1024;
/// zlib's largest window, 32 KiB (what `GzEncoder` uses).
const WINDOW_BITS: u8 = 15;

thread_local! {
    static IDLE: RefCell<Idle> = const { RefCell::new(Idle::new()) };
}

/// Gzip states made, and idle in the pools, in all workers
/// (`tern_compressors_made_total`, `tern_compressors_idle`).
static MADE: AtomicU64 = AtomicU64::new(0);
static IDLE_ALL: AtomicU64 = AtomicU64::new(0);

struct Idle {
    /// Reset encoders and their levels; the most recently returned last.
    gzip: Vec<(u8, Gzip)>,
    /// The fewest idle at any moment since `since`: that many went unused
    /// through the whole period.
    fewest: usize,
    since: Option<Instant>,
}

impl Idle {
    const fn new() -> Idle {
        Idle {
            gzip: Vec::new(),
            fewest: 0,
            since: None,
        }
    }

    fn push(&mut self, level: u8, gz: Gzip) {
        self.gzip.push((level, gz));
        IDLE_ALL.fetch_add(1, Ordering::Relaxed);
    }

    fn take(&mut self, level: u8) -> Option<Gzip> {
        let at = self.gzip.iter().rposition(|(held, _)| *held == level)?;
        let (_, gz) = self.gzip.remove(at);
        IDLE_ALL.fetch_sub(1, Ordering::Relaxed);
        self.fewest = self.fewest.min(self.gzip.len());
        Some(gz)
    }

    /// Frees the encoders that went unused through a whole period (the
    /// least recently returned ones); returns how many.
    fn release_unused(&mut self, now: Instant) -> usize {
        let since = *self.since.get_or_insert(now);
        if now.duration_since(since) < PERIOD {
            return 0;
        }
        let unused = self.fewest.min(self.gzip.len());
        self.gzip.drain(..unused);
        IDLE_ALL.fetch_sub(unused as u64, Ordering::Relaxed);
        self.fewest = self.gzip.len();
        self.since = Some(now);
        unused
    }
}

impl Drop for Idle {
    /// A worker thread that ends frees its pool.
    fn drop(&mut self) {
        IDLE_ALL.fetch_sub(self.gzip.len() as u64, Ordering::Relaxed);
    }
}

/// A reset gzip compressor at `level` from this worker's pool, or a new one.
pub fn take_gzip(level: u8) -> Gzip {
    IDLE.with(|idle| idle.borrow_mut().take(level))
        .unwrap_or_else(|| new_gzip(level, Vec::with_capacity(super::STEP + 1024)))
}

fn new_gzip(level: u8, out: Vec<u8>) -> Gzip {
    MADE.fetch_add(1, Ordering::Relaxed);
    let state = Compress::new_gzip(Compression::new(u32::from(level)), WINDOW_BITS);
    Box::new(ZlibEncoder::new_with_compress(out, state))
}

/// Returns a compressor whose stream is finished (its output drained) to
/// this worker's pool, reset for the next response.
pub fn give_gzip(level: u8, mut gz: Gzip) {
    // The reset swaps in the writer it is given and hands back the old one:
    // give it the output buffer itself, emptied, to keep its capacity.
    let out = std::mem::take(gz.get_mut());
    if gz.reset(out).is_err() {
        return;
    }
    // `try_with`: a response finished while its thread ends frees it.
    let _ = IDLE.try_with(|idle| idle.borrow_mut().push(level, gz));
}

/// Called by the worker on its tick: frees the encoders that sat idle
/// through the last period and counts them toward the spill that
/// `buffer::trim_after_burst` gives back.
pub fn release_unused(now: Instant) {
    let freed = IDLE.with(|idle| idle.borrow_mut().release_unused(now));
    if freed > 0 {
        crate::buffer::count_spilled(freed * GZIP_STATE_BYTES);
    }
}

/// Gzip compressors made so far, and idle in the workers' pools now.
pub fn counts() -> (u64, u64) {
    (
        MADE.load(Ordering::Relaxed),
        IDLE_ALL.load(Ordering::Relaxed),
    )
}

#[cfg(test)]
fn idle() -> usize {
    IDLE.with(|idle| idle.borrow().gzip.len())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    fn gzip_stream(gz: &mut Gzip, text: &[u8]) -> Vec<u8> {
        gz.write_all(text).expect("write");
        gz.try_finish().expect("finish");
        std::mem::take(gz.get_mut())
    }

    fn gunzip(wire: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(wire)
            .read_to_end(&mut plain)
            .expect("a whole gzip stream");
        plain
    }

    #[test]
    fn a_returned_compressor_is_reused_and_starts_a_new_gzip_stream() {
        // Each test runs on its own thread: a pool of its own.
        let mut gz = take_gzip(1);
        let first = gzip_stream(&mut gz, b"the first response");
        let state: *const ZlibEncoder<Vec<u8>> = &*gz;
        give_gzip(1, gz);
        assert_eq!(idle(), 1);
        let mut again = take_gzip(1);
        assert_eq!(&*again as *const _, state, "the same state, reused");
        let second = gzip_stream(&mut again, b"and the second one");
        assert_eq!(gunzip(&first), b"the first response");
        assert_eq!(gunzip(&second), b"and the second one");
    }

    #[test]
    fn a_compressor_is_reused_only_at_its_own_level() {
        give_gzip(1, take_gzip(1));
        let other = take_gzip(6);
        assert_eq!(idle(), 1, "level 6 is made, level 1 stays idle");
        give_gzip(6, other);
        take_gzip(1);
        take_gzip(6);
        assert_eq!(idle(), 0);
    }

    #[test]
    fn compressors_idle_through_a_whole_period_are_freed() {
        let start = Instant::now();
        let mut idle = Idle::new();
        assert_eq!(
            idle.release_unused(start),
            0,
            "the first call starts a period"
        );
        for _ in 0..4 {
            idle.push(1, new_gzip(1, Vec::new()));
        }
        idle.fewest = 4;
        // Two in use at once at the busiest: two never were.
        let a = idle.take(1).expect("idle");
        let b = idle.take(1).expect("idle");
        idle.push(1, a);
        idle.push(1, b);
        assert_eq!(idle.release_unused(start + PERIOD / 2), 0, "mid-period");
        assert_eq!(idle.release_unused(start + PERIOD), 2);
        assert_eq!(idle.gzip.len(), 2);
        // Nothing taken in the next period: the rest go too.
        assert_eq!(idle.release_unused(start + PERIOD * 2), 2);
        assert!(idle.gzip.is_empty());
    }
}
