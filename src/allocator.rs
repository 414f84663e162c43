//! What the C allocator (glibc malloc, which tern's Rust code allocates
//! through) holds: bytes handed out, and free bytes it keeps in its arenas
//! instead of giving them back to the system. Resident memory that grows
//! while `in_use` stays flat is the allocator keeping freed memory (a
//! high-water mark or fragmentation), not a leak in tern.
//!
//! Read when `/metrics` is scraped, on the admin thread: `mallinfo2` locks
//! each arena in turn and walks its free lists, which is fine once per
//! scrape and kept off the request path. Also here: the allocator's
//! thresholds, set once at start (`keep_freed_memory`), and the trim after
//! a burst (`trim`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Allocator totals in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heap {
    /// Allocated and not yet freed (arena chunks and mmapped blocks).
    pub in_use: u64,
    /// Free chunks the arenas keep for reuse. Some of their pages may have
    /// been given back already (`malloc_trim`), so this is an upper bound
    /// on the resident memory it stands for.
    pub free: u64,
}

/// The process's allocator totals; `None` where glibc's `mallinfo2` is not
/// available. It is looked up when called (glibc 2.33 and later have it),
/// so that tern still starts on an older glibc.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap() -> Option<Heap> {
    type Mallinfo2 = unsafe extern "C" fn() -> libc::mallinfo2;
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks
    // a symbol up; a null result is handled below.
    let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"mallinfo2".as_ptr()) };
    if symbol.is_null() {
        return None;
    }
    // SAFETY: glibc's mallinfo2 has exactly this signature (no arguments,
    // struct mallinfo2 returned by value), which libc::mallinfo2 mirrors.
    let mallinfo2: Mallinfo2 = unsafe { std::mem::transmute(symbol) };
    // SAFETY: it only reads the allocator's state under its own locks.
    let info = unsafe { mallinfo2() };
    Some(Heap {
        in_use: (info.uordblks + info.hblkhd) as u64,
        free: info.fordblks as u64,
    })
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap() -> Option<Heap> {
    None
}

/// Sets the allocator up for a server's steady churn, once at start:
/// glibc's defaults (trim a free arena top above 128 KiB, raised as large
/// blocks are freed) gave pages back between requests and faulted them in
/// again. Under 64 clients fetching 16 KiB bodies that was a page fault
/// every three or four requests, up to 5% of tern's CPU (perf stat: 35,000
/// to 49,000 faults in 3 s, none with these settings; bench/README.md,
/// *Page faults between requests*). Memory a burst leaves behind still goes
/// back: the workers trim after one (`buffer::trim_after_burst`), and
/// `malloc_trim` ignores these thresholds.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// Above this much free memory at the top of an arena, glibc gives
        /// it back to the system on its own, after any `free`.
        const TRIM_THRESHOLD: libc::c_int = 4 << 20;
        /// Allocations this large or larger get pages of their own (`mmap`),
        /// unmapped when freed. Fixed, so that glibc doesn't move it.
        const MMAP_THRESHOLD: libc::c_int = 1 << 20;
        // SAFETY: mallopt takes plain numbers and only changes the
        // allocator's parameters, under its own locks.
        unsafe {
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

/// Asks the allocator to give every whole free page in its arenas back to
/// the system (`malloc_trim(0)`), and counts it and the time it took (the
/// calling worker waits for it).
pub fn trim() {
    let started = Instant::now();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a plain number and only releases pages of
    // free chunks, under the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
    let micros = started.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
    TRIM_MICROS.fetch_add(micros, Ordering::Relaxed);
    TRIMS.fetch_add(1, Ordering::Relaxed);
}

/// Trims so far, and the microseconds they took in all
/// (`tern_allocator_trims_total`, `tern_allocator_trim_seconds_total`).
pub fn trims() -> (u64, u64) {
    (
        TRIMS.load(Ordering::Relaxed),
        TRIM_MICROS.load(Ordering::Relaxed),
    )
}

static TRIMS: AtomicU64 = AtomicU64::new(0);
static TRIM_MICROS: AtomicU64 = AtomicU64::new(0);

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_shows_in_use() {
        let before = heap().map(|h| h.in_use).unwrap_or(0);
        let block = vec![1u8; 4 << 20];
        let during = heap().map(|h| h.in_use).unwrap_or(0);
        drop(block);
        // Other tests allocate at the same time: only a lower bound holds.
        assert!(during >= 4 << 20, "in use {during} (before {before})");
    }
}
