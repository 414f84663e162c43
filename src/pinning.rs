//! Whether each worker thread is pinned to a CPU of its own (`[server]
//! pin_workers`).
//!
//! Pinning keeps a worker's caches warm, but only pays when the core is the
//! worker's alone: a pinned thread whose core is busy with another process
//! (a load generator, the origin, a compiler) waits for it instead of moving
//! to an idle core. nginx and HAProxy leave their workers unpinned unless
//! told (`worker_cpu_affinity`, `cpu-map`), and measured on a 2-CPU machine
//! shared with wrk and the origin, tern's pinned workers cost about twice the
//! CPU per request of one worker (issue 13). tern cannot see what else runs
//! on its cores, so the default (`pin_workers` absent) pins only on the one
//! sign it has that someone gave it cores of its own: its CPU affinity mask
//! (taskset, a cpuset cgroup, systemd `CPUAffinity=`) is narrower than the
//! machine, and it holds exactly one CPU per worker. `true` always pins
//! (workers beyond the mask share its CPUs round-robin); `false` never does.

/// The CPU each worker is pinned to, by worker id; empty: none is pinned.
pub fn plan(
    setting: Option<bool>,
    workers: usize,
    mask: &[core_affinity::CoreId],
) -> Vec<core_affinity::CoreId> {
    if !should_pin(setting, workers, mask.len(), online_cpus()) {
        return Vec::new();
    }
    (0..workers).map(|id| mask[id % mask.len()]).collect()
}

/// The rule, apart from the system calls. `mask`: CPUs this process may
/// run on; `online`: CPUs the machine has online (0 if unknown).
fn should_pin(setting: Option<bool>, workers: usize, mask: usize, online: usize) -> bool {
    if mask == 0 {
        return false; // the mask could not be read: nothing to pin to
    }
    match setting {
        Some(pin) => pin,
        None => workers == mask && mask < online,
    }
}

/// CPUs online on the machine, whatever this process's affinity.
fn online_cpus() -> usize {
    // SAFETY: sysconf takes an integer, touches no memory of ours and has
    // no preconditions; it returns -1 on error, turned into 0 here.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::should_pin;

    #[test]
    fn default_pins_only_one_worker_per_cpu_of_a_narrowed_mask() {
        // taskset -c 2,3 on an 8-CPU machine, 2 workers: cores of its own.
        assert!(should_pin(None, 2, 2, 8));
        // The whole machine: other processes may share every core.
        assert!(!should_pin(None, 2, 2, 2));
        assert!(!should_pin(None, 8, 8, 8));
        // More or fewer workers than CPUs in the mask: not one core each.
        assert!(!should_pin(None, 3, 2, 8));
        assert!(!should_pin(None, 1, 2, 8));
        // Online count unknown: not narrowed as far as tern can tell.
        assert!(!should_pin(None, 1, 1, 0));
    }

    #[test]
    fn the_setting_wins_when_there_is_a_mask() {
        assert!(should_pin(Some(true), 4, 2, 2));
        assert!(!should_pin(Some(false), 2, 2, 8));
        assert!(!should_pin(Some(true), 2, 0, 8));
    }
}
