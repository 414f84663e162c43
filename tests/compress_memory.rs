//! The memory one compressing response holds in its encoder, measured with
//! a counting allocator: the peak over a whole stream, at every level, for
//! both codings, must stay under `tern::compress::MEMORY_BOUND` (the bound
//! the README states). Its own test binary, so the allocator counts
//! nothing else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tern::compress::{Coding, Encoder, Encoding, MEMORY_BOUND, STEP};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the
// counters are only arithmetic on the sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        // SAFETY: the caller's layout is passed on as it came.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Text of some variety, so the encoders use their match tables.
fn input(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut n = 0x9e37_79b9_7f4a_7c15u64;
    while out.len() < len {
        n ^= n << 13;
        n ^= n >> 7;
        n ^= n << 17;
        out.extend_from_slice(
            format!("{{\"id\":{},\"name\":\"user{}\"}},\n", n % 100_000, n >> 44).as_bytes(),
        );
    }
    out.truncate(len);
    out
}

/// Peak bytes above what was live before the encoder was made.
fn peak_of(encoding: Encoding, data: &[u8]) -> usize {
    let mut wire = Vec::with_capacity(4 * STEP);
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let mut encoder = Encoder::new(encoding);
    for piece in data.chunks(STEP) {
        encoder.write(piece).expect("write");
        encoder.flush(&mut wire, true).expect("flush");
        wire.clear();
    }
    encoder.finish(&mut wire, true).expect("finish");
    PEAK.load(Ordering::SeqCst) - before
}

#[test]
fn an_encoder_stays_within_the_stated_bound_at_every_level() {
    // Four brotli windows: enough for every table to fill.
    let data = input(1024 * 1024);
    let mut report = Vec::new();
    for coding in [Coding::Gzip, Coding::Br] {
        for level in 1..=9 {
            let peak = peak_of(Encoding { coding, level }, &data);
            report.push((coding, level, peak));
        }
    }
    for (coding, level, peak) in &report {
        println!("{coding:?} level {level}: {} KiB", peak / 1024);
    }
    for (coding, level, peak) in report {
        assert!(
            peak <= MEMORY_BOUND,
            "{coding:?} level {level} held {peak} bytes, over the bound of {MEMORY_BOUND}"
        );
    }
}
