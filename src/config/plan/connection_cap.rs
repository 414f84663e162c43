//! What the open-files limit (`crate::rlimit`) means for a plan: the
//! connection cap each worker enforces.

use super::Plan;

/// The client connections the process may hold at once when
/// `[server] max_connections` is not set: what the descriptors left after
/// the listening sockets (each worker's, and the main thread's copies),
/// fixed-size idle upstream pools and a reserve allow, two per connection
/// (client and upstream, or client and file). The default pool needs no
/// room of its own: it keeps at most the worker's share of this cap, so its
/// connections are the second descriptors of the clients' budget.
pub fn derived_connection_cap(plan: &Plan, workers: usize, nofile: u64) -> usize {
    let workers = workers as u64;
    let listening: u64 = plan.listeners.iter().map(|l| l.addrs.len() as u64).sum();
    let pools = plan.pool.max_idle_per_server.map_or(0, |per_server| {
        (per_server as u64)
            .saturating_mul(plan.server_count as u64)
            .saturating_mul(workers)
    });
    let held = crate::rlimit::RESERVED + 2 * listening * workers + pools;
    let cap = nofile.saturating_sub(held) / 2;
    usize::try_from(cap).unwrap_or(usize::MAX).max(1)
}

/// Sets `plan.worker_connections`: the configured or derived cap, divided
/// among the workers (rounded down, so the process never holds more than
/// the cap; at least one each). Returns the process-wide cap in force.
pub fn resolve_connection_cap(plan: &mut Plan, workers: usize, nofile: u64) -> usize {
    let workers = workers.max(1);
    let cap = plan
        .max_connections
        .unwrap_or_else(|| derived_connection_cap(plan, workers, nofile));
    let fits = derived_connection_cap(plan, workers, nofile);
    if cap > fits {
        crate::log::warn(format_args!(
            "server.max_connections = {cap} is more than the open files limit ({nofile}) leaves room for (about {fits}): tern may run out of descriptors"
        ));
    }
    plan.worker_connections = (cap / workers).max(1);
    let in_force = plan.worker_connections.saturating_mul(workers);
    crate::edge_counts::set_connection_cap(in_force);
    in_force
}
