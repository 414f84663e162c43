//! Raising the open-files limit, as nginx's `worker_rlimit_nofile` does:
//! every proxied connection costs two descriptors.

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

/// The soft RLIMIT_NOFILE now (0 when it can't be read).
pub fn nofile_soft() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    limit.rlim_cur
}

/// A warning to log when the limit is low, naming what it allows.
pub fn low_limit_warning(soft: u64) -> Option<String> {
    (soft < COMFORTABLE).then(|| {
        format!(
            "open files limit is {soft}: at most about {} proxied connections; raise the hard limit (LimitNOFILE, /etc/security/limits.conf) to hold more",
            soft / 2
        )
    })
}
