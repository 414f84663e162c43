//! Building a worker's monoio runtime: io_uring where the kernel allows it,
//! else the epoll driver (containers often refuse io_uring).

use std::cell::Cell;
use std::fmt;
use std::sync::Once;

use monoio::time::TimeDriver;
use monoio::{FusionRuntime, IoUringDriver, LegacyDriver, RuntimeBuilder};

pub type Runtime = FusionRuntime<TimeDriver<IoUringDriver>, TimeDriver<LegacyDriver>>;

/// Submission queue entries per worker ring.
const URING_ENTRIES: u32 = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    IoUring,
    Epoll,
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::IoUring => "io_uring",
            Driver::Epoll => "epoll",
        })
    }
}

thread_local! {
    /// The driver of the runtime this thread built: a worker's.
    static DRIVER: Cell<Option<Driver>> = const { Cell::new(None) };
}

/// Whether this thread's runtime is the epoll driver, whose file operations
/// are plain blocking system calls (monoio keeps its own answer private).
pub fn on_epoll() -> bool {
    DRIVER.with(|driver| driver.get() == Some(Driver::Epoll))
}

/// `TERN_DRIVER=epoll` forces the fallback (to test it, or to compare).
pub fn build() -> std::io::Result<(Runtime, Driver)> {
    let built = build_either()?;
    DRIVER.with(|driver| driver.set(Some(built.1)));
    Ok(built)
}

fn build_either() -> std::io::Result<(Runtime, Driver)> {
    let forced_epoll = std::env::var("TERN_DRIVER").is_ok_and(|v| v == "epoll");
    if !forced_epoll {
        match build_uring() {
            Ok(runtime) => return Ok((runtime, Driver::IoUring)),
            Err(err) if out_of_descriptors(&err) => return Err(err),
            Err(reason) => say_epoll_fallback(&reason),
        }
    }
    let runtime = RuntimeBuilder::<LegacyDriver>::new()
        .enable_timer()
        .build()?;
    Ok((runtime.into(), Driver::Epoll))
}

/// Why the workers run on epoll, said once for the process: every worker
/// meets the same refusal (the kernel's, or a container's seccomp filter),
/// and a line per worker would bury the rest of the start.
fn say_epoll_fallback(reason: &std::io::Error) {
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        crate::log::warn(format_args!(
            "io_uring unavailable ({reason}); the workers use the epoll driver"
        ))
    });
}

/// A ring refused for want of descriptors is no reason to fall back: the
/// kernel has io_uring, and the epoll driver needs descriptors as well.
/// The process is out of them (too many workers for its open-files limit),
/// which the start is to say once, not as a warning per worker.
fn out_of_descriptors(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

fn build_uring() -> std::io::Result<Runtime> {
    if !monoio::utils::detect_uring() {
        return Err(std::io::Error::other(
            "the kernel refuses it or lacks the needed operations",
        ));
    }
    let plain = || RuntimeBuilder::<IoUringDriver>::new().with_entries(URING_ENTRIES);
    let flagged = plain().uring_builder(ring_setup()).enable_timer().build();
    // Kernels before 6.0 refuse the flags: a plain ring then.
    flagged
        .or_else(|err| {
            crate::log::debug(format_args!(
                "io_uring ring flags refused ({err}); a plain ring"
            ));
            plain().enable_timer().build()
        })
        .map(Into::into)
}

/// The ring's setup flags. COOP_TASKRUN: completions are not pushed with an
/// interrupt to a thread that is busy running tasks, but delivered when it
/// next enters the kernel, which a thread per core does all the time;
/// SINGLE_ISSUER: only the worker's own thread submits, so the kernel skips
/// the locking for other submitters. Measured (bench/README.md, "io_uring
/// setup"): about 8% less CPU per small keep-alive request, no p99 cost.
/// DEFER_TASKRUN was tried and left out: completions then wait for the next
/// blocking wait, which tripled p99 at 1,000 clients.
fn ring_setup() -> io_uring::Builder {
    let mut builder = io_uring::IoUring::builder();
    builder.setup_coop_taskrun().setup_single_issuer();
    builder
}
