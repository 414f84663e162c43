//! One place that decides how monoio runtimes are built.

use std::future::Future;

/// Runs `fut` to completion on a fresh single-threaded runtime: io_uring
/// when the kernel allows it, epoll otherwise (some sandboxes forbid
/// io_uring), with timers enabled.
pub fn block_on<F: Future>(fut: F) -> std::io::Result<F::Output> {
    // The submission queue only bounds ops queued between two submits, not
    // ops in flight, so a moderate size serves 20k idle connections too.
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .with_entries(4096)
        .build()?;
    Ok(rt.block_on(fut))
}
