//! Reloading the configuration (SIGHUP, `tern --reload`, `POST /reload` on
//! the admin endpoint): the main thread reads and validates the whole file;
//! if it is invalid, nothing changes and the reason is logged. If it is
//! valid, listeners are matched (kept, bound, stopped), what carries over
//! is carried (health, admin states, pooled connections), and every worker
//! switches to the new plan on its own thread (see `worker::reload`).
//! A change in DNS (`discovery`) takes the same path with the same file.
//! Reading the file opens the static roots, each within a bound
//! (`files::root_wait`), so a network filesystem that is gone can't hold
//! this thread.

pub mod carry;
pub mod dns;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::admin::View;
use crate::config::Plan;
use crate::listen::table::{Change, ListenerTable};
use crate::upstream::server_state::ServerStates;
use crate::worker::inbox::Workers;
use crate::worker::reload::Order;

/// How long the main thread waits for every worker to switch (they look at
/// their inbox every 50 ms).
const SWITCH_WAIT: Duration = Duration::from_secs(5);

/// What the main thread keeps of the running process.
pub struct Running {
    pub config_path: PathBuf,
    pub plan: Arc<Plan>,
    pub states: Arc<ServerStates>,
    /// Shared with the upgrade thread, which sends these sockets.
    pub listeners: Arc<Mutex<ListenerTable>>,
    pub workers: Workers,
    /// The configuration in force, to rebuild the plan when DNS changes.
    pub source: crate::config::Source,
    /// Hands new plans to the health checker.
    pub checker: mpsc::Sender<Arc<Plan>>,
    /// Hands the names of new plans to the discovery thread.
    pub discovery: mpsc::Sender<crate::discovery::Wanted>,
    /// What the admin endpoint shows.
    pub admin_view: Arc<Mutex<View>>,
}

/// Reloads and logs the outcome (which the caller hands to whoever asked).
pub fn reload_and_log(running: &mut Running) -> Result<String, String> {
    let outcome = reload(running);
    match &outcome {
        Ok(summary) => crate::log::info(format_args!("reloaded: {summary}")),
        Err(reason) => crate::log::error(format_args!(
            "reload refused, still running the previous configuration: {reason}"
        )),
    }
    outcome
}

fn reload(running: &mut Running) -> Result<String, String> {
    let (source, plan, warnings) =
        crate::config::load_resolved(&running.config_path).map_err(|err| err.to_string())?;
    for warning in warnings {
        crate::log::warn(format_args!("{warning}"));
    }
    let summary = apply(running, plan)?;
    running.source = source;
    Ok(summary)
}

/// Switches the process to `plan`: listeners, carried state, workers,
/// health checker, discovery thread, admin view.
pub fn apply(running: &mut Running, mut plan: Plan) -> Result<String, String> {
    let old = running.plan.clone();
    warn_fixed_settings(&old, &plan);
    let workers = running.workers.count();
    plan.worker_count = workers;
    crate::config::plan::connection_cap::resolve_connection_cap(
        &mut plan,
        workers,
        crate::rlimit::nofile(),
    );
    let change = running
        .listeners
        .lock()
        .map_err(|_| "the listener table is poisoned".to_owned())?
        .update(&plan, workers)?;
    crate::log::configure(plan.log.level, plan.log.error.as_deref())
        .map_err(|err| format!("cannot open the error log: {err}"))?;
    let states = Arc::new(carry::server_states(&old, &running.states, &plan));
    let pool_ids = carry::server_ids(&old, &plan);
    let plan = Arc::new(plan);
    for (name, addr) in &change.added_names {
        crate::log::stderr_line(&format!("listening on {addr} ({name})\n"));
    }
    let summary = summary(&old, &plan, &change);
    let switched = switch_workers(running, &plan, &states, pool_ids, change);
    let _ = running.checker.send(plan.clone());
    let _ = running.discovery.send(plan.discovery.clone());
    crate::acme::start();
    if let Ok(mut view) = running.admin_view.lock() {
        *view = View {
            plan: plan.clone(),
            states: states.clone(),
        };
    }
    running.plan = plan;
    running.states = states;
    if switched < workers {
        return Err(format!(
            "only {switched} of {workers} workers switched within {SWITCH_WAIT:?}"
        ));
    }
    Ok(summary)
}

/// Sends every worker its order and waits for them to switch.
fn switch_workers(
    running: &Running,
    plan: &Arc<Plan>,
    states: &Arc<ServerStates>,
    pool_ids: Vec<Option<usize>>,
    change: Change,
) -> usize {
    let (done, switched) = mpsc::channel();
    let orders = change
        .added
        .into_iter()
        .map(|added| Order {
            plan: plan.clone(),
            server_states: states.clone(),
            pool_ids: pool_ids.clone(),
            kept: change.kept.clone(),
            added,
            done: done.clone(),
        })
        .collect();
    let sent = running.workers.send_each(orders);
    drop(done);
    let deadline = Instant::now() + SWITCH_WAIT;
    (0..sent)
        .take_while(|_| {
            let left = deadline.saturating_duration_since(Instant::now());
            switched.recv_timeout(left).is_ok()
        })
        .count()
}

/// `3 listeners (added web2 127.0.0.1:8081), 4 routes (was 3), 1 backend,
/// 2 servers`: the counts, with only what changed spelled out.
fn summary(old: &Plan, plan: &Plan, change: &Change) -> String {
    let names = |list: &[(String, std::net::SocketAddr)]| {
        list.iter()
            .map(|(name, addr)| format!("{name} {addr}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut listener_changes = Vec::new();
    if !change.added_names.is_empty() {
        listener_changes.push(format!("added {}", names(&change.added_names)));
    }
    if !change.removed_names.is_empty() {
        listener_changes.push(format!("removed {}", names(&change.removed_names)));
    }
    let listeners = match listener_changes.is_empty() {
        true => count(plan.listeners.len(), old.listeners.len(), "listener"),
        false => format!(
            "{} ({})",
            count(plan.listeners.len(), plan.listeners.len(), "listener"),
            listener_changes.join("; ")
        ),
    };
    format!(
        "{listeners}, {}, {}, {}",
        count(plan.routes.len(), old.routes.len(), "route"),
        count(plan.backends.len(), old.backends.len(), "backend"),
        count(plan.server_count, old.server_count, "server"),
    )
}

/// `2 routes`, or `2 routes (was 3)` when the number changed.
fn count(now: usize, was: usize, what: &str) -> String {
    let plural = if now == 1 { "" } else { "s" };
    match now == was {
        true => format!("{now} {what}{plural}"),
        false => format!("{now} {what}{plural} (was {was})"),
    }
}

/// Settings a reload cannot change in a running process.
/// (A changed `pid_file` matters most: `tern -s` with the new config would
/// look for the process in a file it never wrote.)
fn warn_fixed_settings(old: &Plan, new: &Plan) {
    let fixed = [
        ("server.workers", old.workers != new.workers),
        ("server.pin_workers", old.pin_workers != new.pin_workers),
        (
            "admin.bind",
            old.admin.map(|a| a.bind) != new.admin.map(|a| a.bind),
        ),
        ("server.pid_file", old.pid_file != new.pid_file),
        (
            "server.upgrade_socket",
            old.upgrade_socket != new.upgrade_socket,
        ),
    ];
    for (key, _) in fixed.iter().filter(|(_, changed)| *changed) {
        crate::log::warn(format_args!(
            "reload: {key} changed; it takes effect on restart or upgrade"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_say_what_changed_only() {
        assert_eq!(count(1, 1, "listener"), "1 listener");
        assert_eq!(count(3, 2, "route"), "3 routes (was 2)");
    }
}
