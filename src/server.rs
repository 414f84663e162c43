//! Process start and stop: raise limits, bind listeners, start one pinned
//! worker per CPU, then wait for signals.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::admin;
use crate::admin::link::{self, Inbox};
use crate::admin::server_state::ServerStates;
use crate::config::Plan;
use crate::listen;
use crate::runtime::Driver;
use crate::signals::{self, Signal};
use crate::worker::{self, WorkerSpec};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs until SIGTERM/SIGINT (graceful) or SIGQUIT (at once).
pub fn run(mut plan: Plan) -> Result<(), String> {
    crate::log::configure(plan.log.level, plan.log.error.as_deref())
        .map_err(|err| format!("cannot open the error log: {err}"))?;
    let nofile = crate::rlimit::raise_nofile();
    if let Some(warning) = crate::rlimit::low_limit_warning(nofile) {
        crate::log::warn(format_args!("{warning}"));
    }
    // The CPUs this process may run on (taskset and cgroups are respected).
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let workers = plan.workers.unwrap_or(cores.len()).max(1);
    let listen::Listeners {
        per_worker: sockets,
        addresses: bound,
    } = listen::bind_all(&plan, workers)?;
    for (name, addr) in &bound {
        eprintln!("listening on {addr} ({name})");
    }
    plan.worker_count = workers;
    signals::block();
    let stop = Arc::new(AtomicBool::new(false));
    let plan = Arc::new(plan);
    let checker = crate::upstream::checker::spawn(plan.clone(), stop.clone())
        .map_err(|err| format!("cannot start the health checker: {err}"))?;
    let server_states = Arc::new(ServerStates::new(plan.server_count));
    let mut inboxes = start_admin(&plan, &server_states, workers)?.into_iter();
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut handles = Vec::new();
    for (id, listeners) in sockets.into_iter().enumerate() {
        let spec = WorkerSpec {
            id,
            core: (!cores.is_empty()).then(|| cores[id % cores.len()]),
            listeners,
            plan: plan.clone(),
            stop: stop.clone(),
            server_states: server_states.clone(),
            inbox: inboxes.next().ok_or("no inbox for a worker")?,
        };
        let handle = worker::spawn(spec, ready_tx.clone())
            .map_err(|err| format!("cannot start worker {id}: {err}"))?;
        handles.push(handle);
    }
    let driver = wait_ready(&ready_rx, workers)?;
    eprintln!(
        "tern {VERSION} started: workers={workers} driver={driver} pinned={} listeners={} nofile={nofile}",
        !cores.is_empty(),
        bound.len()
    );
    wait_for_stop(&plan);
    stop.store(true, Ordering::Relaxed);
    for handle in handles.into_iter().chain(checker) {
        let _ = handle.join();
    }
    crate::log::info(format_args!("stopped"));
    Ok(())
}

/// Starts the admin endpoint if configured; returns each worker's inbox
/// (which nobody writes to when there is no endpoint).
fn start_admin(
    plan: &Arc<Plan>,
    states: &Arc<ServerStates>,
    workers: usize,
) -> Result<Vec<Inbox>, String> {
    let (links, inboxes) = link::channels(workers);
    if let Some(config) = plan.admin {
        let addr = admin::start(config, plan.clone(), states.clone(), links)?;
        eprintln!("listening on {addr} (admin)");
    }
    Ok(inboxes)
}

/// Every worker reports its driver; a worker that failed stops the start.
fn wait_ready(
    ready: &mpsc::Receiver<Result<Driver, String>>,
    workers: usize,
) -> Result<Driver, String> {
    let mut driver = Driver::IoUring;
    for _ in 0..workers {
        match ready.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(Driver::Epoll)) => driver = Driver::Epoll,
            Ok(Ok(Driver::IoUring)) => {}
            Ok(Err(err)) => return Err(err),
            Err(_) => return Err("a worker did not start within 10 s".into()),
        }
    }
    Ok(driver)
}

fn wait_for_stop(plan: &Plan) {
    loop {
        match signals::wait() {
            Signal::Stop => {
                crate::log::info(format_args!(
                    "stopping: no new connections, {:?} for requests in flight",
                    plan.shutdown_grace
                ));
                return;
            }
            Signal::Quit => {
                crate::log::info(format_args!("SIGQUIT: stopping at once"));
                std::process::exit(0);
            }
            Signal::Reload => {
                crate::log::warn(format_args!(
                    "SIGHUP: configuration reload is not implemented yet; ignored"
                ));
            }
            Signal::ReopenLogs => {
                crate::log::reopen();
                crate::log::info(format_args!("SIGUSR1: log files reopened"));
            }
        }
    }
}
