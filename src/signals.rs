//! Signals are blocked in every thread and taken synchronously by the main
//! thread with sigwait, so no handler runs in the middle of a worker.

use std::mem::MaybeUninit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: drain and stop.
    Stop,
    /// SIGQUIT: stop at once.
    Quit,
    /// SIGHUP: reload the configuration.
    Reload,
    /// SIGUSR1: reopen the log files (log rotation).
    ReopenLogs,
}

const HANDLED: [libc::c_int; 5] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGHUP,
    libc::SIGUSR1,
];

fn handled_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set before sigaddset touches it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for signal in HANDLED {
            libc::sigaddset(set.as_mut_ptr(), signal);
        }
        set.assume_init()
    }
}

/// Blocks the handled signals in this thread and every thread it spawns
/// afterwards. Call before starting workers.
pub fn block() {
    let set = handled_set();
    // SAFETY: a valid, initialised set; no old mask wanted.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Waits for the next handled signal.
pub fn wait() -> Signal {
    let set = handled_set();
    loop {
        let mut received: libc::c_int = 0;
        // SAFETY: valid set and out-pointer.
        let rc = unsafe { libc::sigwait(&set, &mut received) };
        if rc != 0 {
            continue;
        }
        match received {
            libc::SIGQUIT => return Signal::Quit,
            libc::SIGHUP => return Signal::Reload,
            libc::SIGUSR1 => return Signal::ReopenLogs,
            _ => return Signal::Stop,
        }
    }
}
