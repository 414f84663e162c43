//! SIGQUIT stops tern at once, but not before every worker has written the
//! access log lines it holds (they are buffered for up to one tick). The
//! main thread raises the flag and waits, briefly, for each worker to say
//! it flushed; a worker that doesn't answer in time is not waited for.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static QUIT: AtomicBool = AtomicBool::new(false);
static FLUSHED: AtomicUsize = AtomicUsize::new(0);

/// Asked by each worker at every tick.
pub fn requested() -> bool {
    QUIT.load(Ordering::Relaxed)
}

/// A worker wrote everything it had buffered.
pub fn flushed() {
    FLUSHED.fetch_add(1, Ordering::Release);
}

/// Raises the flag and waits until `workers` have flushed, at most `within`.
pub fn and_wait(workers: usize, within: Duration) {
    QUIT.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + within;
    while FLUSHED.load(Ordering::Acquire) < workers && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
}
