//! CLOCK_MONOTONIC as plain nanoseconds.
//!
//! `std::time::Instant` can't cross a process boundary, but the long-poll
//! parent and its children must agree on when the publish was sent.
//! CLOCK_MONOTONIC is the same clock in every process on the machine, so
//! raw readings can be compared directly.

pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
