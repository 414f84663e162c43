//! Raising the open-files limit, as nginx's `worker_rlimit_nofile` does:
//! every proxied connection costs two descriptors. And what follows from
//! the limit: the default connection cap, so that tern never runs out of
//! descriptors for connections it accepted, and how running out anyway
//! (another process, a lower limit than planned) is reported: once per
//! episode, not at every failed accept or connect.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Below this, tern says that the limit caps how many connections it holds.
const COMFORTABLE: u64 = 65_536;

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
    }
    limit.rlim_cur
}

/// A warning to log when the limit is low, naming the connection cap in
/// force (`resolve_connection_cap`).
pub fn low_limit_warning(soft: u64, cap: usize) -> Option<String> {
    (soft < COMFORTABLE).then(|| {
        format!(
            "open files limit is {soft}: at most {cap} client connections at once (max_connections); raise the hard limit (LimitNOFILE, /etc/security/limits.conf) to hold more"
        )
    })
}

/// Descriptors kept out of the connection budget: standard streams, log
/// files, io_uring rings, each worker's doorbell, eventfds, the admin
/// endpoint, health checks, the file threads' opens in progress (four).
pub const RESERVED: u64 = 64;

/// The soft open-files limit now (after `raise_nofile`).
pub fn nofile() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return u64::MAX;
    }
    limit.rlim_cur
}

/// Set while descriptors are exhausted: from the first EMFILE/ENFILE until
/// an accept or connect succeeds with none failing for `QUIET` before it.
static EXHAUSTED: AtomicBool = AtomicBool::new(false);
/// When an accept or connect last failed for want of descriptors, in
/// milliseconds on `clock_ms`.
static LAST_FAILED_MS: AtomicU64 = AtomicU64::new(0);
/// How long no accept or connect must have failed for an episode to end.
/// Ended at the first success, an episode flapped: at the edge of the
/// limit every freed descriptor is taken at once, and each pair of lines
/// ("out of", "available again") came hundreds of times a second.
const QUIET: Duration = Duration::from_secs(1);

/// Milliseconds since the first call: a clock for all threads.
fn clock_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let since = EPOCH.get_or_init(Instant::now).elapsed();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// True for "too many open files" (the process's or the system's limit).
pub fn is_exhaustion(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// An accept or connect failed for want of descriptors: logged when an
/// episode starts, counted in `tern_descriptor_exhaustion_total`.
pub fn exhausted(what: &str, err: &std::io::Error) {
    LAST_FAILED_MS.store(clock_ms(), Ordering::Relaxed);
    if !EXHAUSTED.swap(true, Ordering::Relaxed) {
        crate::edge_counts::descriptors_exhausted();
        crate::log::warn(format_args!(
            "out of file descriptors ({what}: {err}): an upstream connect closes idle pooled connections to make room, new client connections wait in the listen queue; logged once until none has failed for {}s",
            QUIET.as_secs()
        ));
    }
}

/// An accept or connect succeeded: ends an episode once none has failed
/// for `QUIET` (one relaxed load outside an episode).
pub fn descriptors_available() {
    if !EXHAUSTED.load(Ordering::Relaxed) {
        return;
    }
    let quiet_for = clock_ms().saturating_sub(LAST_FAILED_MS.load(Ordering::Relaxed));
    if quiet_for >= QUIET.as_millis() as u64 && EXHAUSTED.swap(false, Ordering::Relaxed) {
        crate::log::info(format_args!(
            "file descriptors available again: accepting and connecting"
        ));
    }
}
