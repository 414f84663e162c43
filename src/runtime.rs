//! Building a worker's monoio runtime: io_uring where the kernel allows it,
//! else the epoll driver (containers often refuse io_uring).

use std::fmt;

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

/// `TERN_DRIVER=epoll` forces the fallback (to test it, or to compare).
pub fn build() -> std::io::Result<(Runtime, Driver)> {
    let forced_epoll = std::env::var("TERN_DRIVER").is_ok_and(|v| v == "epoll");
    if !forced_epoll {
        match build_uring() {
            Ok(runtime) => return Ok((runtime, Driver::IoUring)),
            Err(reason) => crate::log::warn(format_args!(
                "io_uring unavailable ({reason}); using the epoll driver"
            )),
        }
    }
    let runtime = RuntimeBuilder::<LegacyDriver>::new()
        .enable_timer()
        .build()?;
    Ok((runtime.into(), Driver::Epoll))
}

fn build_uring() -> Result<Runtime, String> {
    if !monoio::utils::detect_uring() {
        return Err("the kernel refuses it or lacks the needed operations".into());
    }
    RuntimeBuilder::<IoUringDriver>::new()
        .with_entries(URING_ENTRIES)
        .enable_timer()
        .build()
        .map(Into::into)
        .map_err(|err| err.to_string())
}
