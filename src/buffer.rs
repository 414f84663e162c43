//! Per-worker pool of I/O buffers.
//!
//! A connection only holds a buffer while bytes are moving: a keep-alive or
//! long-poll connection that is waiting gives its buffer back, which is what
//! keeps memory per held connection small. Each worker thread has its own
//! pool, so taking and returning a buffer needs no lock.
//!
//! A burst (a publish releasing 1,000 long-polls, an upstream restart
//! failing them all at once) takes more buffers than the pool keeps; the
//! extra ones are freed, but glibc keeps their pages, so resident memory
//! would stay at the burst's high-water mark. Once such a burst is over the
//! worker asks the allocator to give those pages back ([`trim_after_burst`]).

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

/// Size of a pooled buffer: large enough for most request heads and for
/// efficient body copies. 16 KiB and a KiB for a head: a response whose
/// body is 16 KiB (a common size, and bench's `16k`) arrives whole in one
/// read; in a 16 KiB buffer its last bytes took a `recv` system call of
/// their own (1.09 system calls per such request, now 0.10).
pub const BUF_SIZE: usize = 17 * 1024;
/// Size of the buffers that stream large bodies: fewer, larger reads and
/// writes than `BUF_SIZE` (a 256 KiB response moves in 2 reads, not 16).
pub const BIG_BUF_SIZE: usize = 128 * 1024;
/// Buffers kept per worker for reuse; beyond that they are freed.
const MAX_POOLED: usize = 128;
const MAX_POOLED_BIG: usize = 16;

/// Reads posted with a buffer while waiting, per worker (see [`try_arm`]).
const MAX_ARMED: usize = 256;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static FREE_BIG: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static ARMED: Cell<usize> = const { Cell::new(0) };
    static SPILL: Spill = const { Spill::new() };
}

/// Permission to wait for bytes with a read already posted (and its buffer
/// held): one io_uring operation instead of a readiness poll and a read,
/// which is worth ~15% of the CPU of a small proxied request. Only for waits
/// expected to be short, and at most `MAX_ARMED` per worker, so held
/// long-polls and idle keep-alives never pin buffers: memory stays bounded
/// by `MAX_ARMED * BUF_SIZE` per worker whatever the traffic.
pub fn try_arm() -> Option<Armed> {
    ARMED.with(|armed| {
        (armed.get() < MAX_ARMED).then(|| {
            armed.set(armed.get() + 1);
            Armed(())
        })
    })
}

pub struct Armed(());

impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.with(|armed| armed.set(armed.get() - 1));
    }
}

/// An empty buffer with `BUF_SIZE` capacity.
pub fn take() -> Vec<u8> {
    FREE.with(|free| free.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BUF_SIZE))
}

/// An empty buffer with `BIG_BUF_SIZE` capacity, for streaming bodies.
pub fn take_big() -> Vec<u8> {
    FREE_BIG
        .with(|free| free.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(BIG_BUF_SIZE))
}

/// Free buffers this worker's pool holds now: `BUF_SIZE` ones, then
/// `BIG_BUF_SIZE` ones (the `tern_buffer_pool_buffers` gauge).
pub fn pooled() -> [usize; 2] {
    [
        FREE.with(|free| free.borrow().len()),
        FREE_BIG.with(|free| free.borrow().len()),
    ]
}

/// Returns a buffer to this worker's pool (grown or shrunk ones are freed).
pub fn give(mut buf: Vec<u8>) {
    let (pool, max) = match buf.capacity() {
        BUF_SIZE => (&FREE, MAX_POOLED),
        BIG_BUF_SIZE => (&FREE_BIG, MAX_POOLED_BIG),
        _ => return,
    };
    buf.clear();
    // `try_with`: a connection dropped while its thread ends (its pool
    // already gone) frees its buffer instead.
    let _ = pool.try_with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < max {
            free.push(buf);
        } else {
            let _ = SPILL.try_with(|spill| spill.add(buf.capacity()));
        }
    });
}

/// A pooled buffer given back to the worker's pool when dropped, however
/// its holder ends: a connection dropped with bytes still in it (a client
/// that left in the middle of a request, a failed upstream), a relay that
/// stops early.
#[derive(Default)]
pub struct Held(Vec<u8>);

impl std::ops::Deref for Held {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.0.capacity() > 0 {
            give(std::mem::take(&mut self.0));
        }
    }
}

/// A burst spills past the pool caps at most this much before its end
/// asks the allocator to give memory back.
const TRIM_AFTER_BYTES: usize = 1 << 20;
/// At most one trim per worker in this time: a trimmed page that is used
/// again costs a page fault, so steady load must not trim over and over.
const TRIM_EVERY: Duration = Duration::from_secs(2);
/// A burst is over once nothing more has spilled for this long. Steady
/// traffic that spills now and then pauses between spills for a check or
/// two (50 ms each); when a pause counted as the end, such traffic trimmed
/// every `TRIM_EVERY` and faulted the pages back in (3-4 trims and ~750
/// faults in 19,200 requests of `tests/memory.rs`'s steady traffic).
const QUIET_FOR: Duration = Duration::from_secs(1);

/// Buffers a burst freed past this worker's pool caps, and when the
/// worker last asked the allocator to give memory back.
struct Spill {
    bytes: Cell<usize>,
    /// `bytes` at the previous check: unchanged means nothing spilled since.
    seen: Cell<usize>,
    /// The first check since the last spill that found nothing more spilled.
    quiet_since: Cell<Option<Instant>>,
    last_trim: Cell<Option<Instant>>,
}

impl Spill {
    const fn new() -> Spill {
        Spill {
            bytes: Cell::new(0),
            seen: Cell::new(0),
            quiet_since: Cell::new(None),
            last_trim: Cell::new(None),
        }
    }

    fn add(&self, bytes: usize) {
        self.bytes.set(self.bytes.get() + bytes);
    }

    /// Whether to trim now: a big spill that has not grown for `QUIET_FOR`,
    /// and no trim within `TRIM_EVERY`.
    fn burst_ended(&self, now: Instant) -> bool {
        let bytes = self.bytes.get();
        if bytes != self.seen.replace(bytes) {
            self.quiet_since.set(None);
            return false;
        }
        let quiet_since = self.quiet_since.get().unwrap_or(now);
        self.quiet_since.set(Some(quiet_since));
        let quiet_long_enough = now.duration_since(quiet_since) >= QUIET_FOR;
        let recent = self
            .last_trim
            .get()
            .is_some_and(|at| now.duration_since(at) < TRIM_EVERY);
        if bytes < TRIM_AFTER_BYTES || !quiet_long_enough || recent {
            return false;
        }
        self.bytes.set(0);
        self.seen.set(0);
        self.quiet_since.set(None);
        self.last_trim.set(Some(now));
        true
    }
}

/// Counts memory freed past a pool of another kind (the idle compressors
/// `compress` lets go) toward the burst whose end gives pages back.
pub fn count_spilled(bytes: usize) {
    let _ = SPILL.try_with(|spill| spill.add(bytes));
}

/// Called by the worker on its tick. Buffers freed past the pool caps go
/// back to the allocator, which keeps their pages: after a burst (1,000
/// long-polls answered at once) that is megabytes resident until the next
/// burst of that size. Once such a burst is over, ask glibc to give free
/// pages back to the system. Returns whether it did.
pub fn trim_after_burst(now: Instant) -> bool {
    if !SPILL.with(|spill| spill.burst_ended(now)) {
        return false;
    }
    crate::allocator::trim();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_buffer_dropped_with_bytes_goes_back_to_the_pool() {
        // Each test runs on its own thread: a pool of its own.
        let mut held = Held::default();
        held.extend_from_slice(b"unread");
        drop(held);
        assert_eq!(pooled()[0], 0, "an unpooled size is freed");
        let mut held = Held::default();
        *held = take();
        held.extend_from_slice(b"unread");
        drop(held);
        assert_eq!(pooled()[0], 1);
        assert!(take().is_empty(), "and comes back cleared");
    }

    #[test]
    fn buffers_are_reused_and_cleared() {
        let mut buf = take();
        buf.extend_from_slice(b"data");
        let ptr = buf.as_ptr();
        give(buf);
        let again = take();
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty());
    }

    #[test]
    fn armed_reads_are_capped_and_released() {
        let guards: Vec<Armed> = std::iter::from_fn(try_arm).take(MAX_ARMED + 1).collect();
        assert_eq!(guards.len(), MAX_ARMED);
        drop(guards);
        assert!(try_arm().is_some());
    }

    #[test]
    fn big_buffers_have_their_own_pool() {
        let big = take_big();
        let ptr = big.as_ptr();
        give(big);
        assert_eq!(take().capacity(), BUF_SIZE);
        let again = take_big();
        assert_eq!(again.as_ptr(), ptr);
    }

    #[test]
    fn a_trim_waits_for_a_big_spill_to_end_and_for_the_last_trim_to_age() {
        let spill = Spill::new();
        let t0 = Instant::now();
        spill.add(TRIM_AFTER_BYTES / 2);
        assert!(!spill.burst_ended(t0), "still spilling");
        assert!(!spill.burst_ended(t0), "quiet since now");
        assert!(
            !spill.burst_ended(t0 + QUIET_FOR),
            "too small to be worth a trim"
        );
        let t1 = t0 + QUIET_FOR * 2;
        spill.add(TRIM_AFTER_BYTES);
        assert!(!spill.burst_ended(t1), "still spilling");
        assert!(!spill.burst_ended(t1), "quiet since now");
        assert!(
            !spill.burst_ended(t1 + QUIET_FOR / 2),
            "a pause is not the end"
        );
        assert!(spill.burst_ended(t1 + QUIET_FOR), "over: trim");
        let t2 = t1 + QUIET_FOR;
        spill.add(TRIM_AFTER_BYTES);
        assert!(!spill.burst_ended(t2), "still spilling");
        assert!(!spill.burst_ended(t2), "quiet since now");
        assert!(
            !spill.burst_ended(t2 + QUIET_FOR),
            "quiet long enough, but a trim just happened"
        );
        assert!(spill.burst_ended(t1 + QUIET_FOR + TRIM_EVERY));
    }

    #[test]
    fn spilling_now_and_then_with_short_pauses_never_trims() {
        let spill = Spill::new();
        let t0 = Instant::now();
        // Ten seconds of checks 50 ms apart, a spill at every third.
        for check in 0..200u32 {
            if check % 3 == 0 {
                spill.add(TRIM_AFTER_BYTES);
            }
            let now = t0 + Duration::from_millis(50) * check;
            assert!(!spill.burst_ended(now), "trimmed at check {check}");
        }
    }

    #[test]
    fn grown_buffers_are_not_pooled() {
        let mut buf = take();
        buf.reserve(BUF_SIZE * 2);
        give(buf);
        assert_eq!(take().capacity(), BUF_SIZE);
    }
}
