//! Process start and stop: raise limits, bind listeners (or take them over
//! from the running tern in an upgrade), start one worker per CPU (pinned
//! or not: `pinning`), then wait for signals: reload on SIGHUP, drain on
//! SIGTERM/SIGINT.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::admin::{self, View};
use crate::config::Plan;
use crate::control::{self, Request};
use crate::listen::{self, Bound, Listeners};
use crate::reload::{self, Running};
use crate::runtime::Driver;
use crate::signals::{self, Signal};
use crate::upgrade;
use crate::upstream::server_state::ServerStates;
use crate::worker::inbox::{Inbox, Workers};
use crate::worker::{self, WorkerSpec};

/// On SIGQUIT, how long the workers get to write their access logs.
const QUIT_FLUSH_WAIT: Duration = Duration::from_secs(1);

/// How the process gets its listening sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Bind them.
    Fresh,
    /// Take them over from the tern at `upgrade_socket`.
    Upgrade,
}

/// What every worker shares with the main thread.
struct Shared {
    stop: Arc<AtomicBool>,
    handed_over: Arc<AtomicBool>,
    states: Arc<ServerStates>,
}

impl Shared {
    fn new(server_count: usize) -> Shared {
        Shared {
            stop: Arc::new(AtomicBool::new(false)),
            handed_over: Arc::new(AtomicBool::new(false)),
            states: Arc::new(ServerStates::new(server_count)),
        }
    }
}

/// Runs until SIGTERM/SIGINT (graceful) or SIGQUIT (at once). `warnings`
/// (from loading the config) are logged once the error log is open, so
/// they are where a reload's are.
pub fn run(
    config_path: PathBuf,
    source: crate::config::Source,
    mut plan: Plan,
    warnings: Vec<String>,
    start: Start,
) -> Result<(), String> {
    let Process {
        nofile,
        workers,
        cores,
    } = prepare_process(&plan)?;
    for warning in warnings {
        crate::log::warn(format_args!("{warning}"));
    }
    let (mut handover, listeners) = open_listeners(&plan, workers, start)
        .map_err(|message| with_files_hint(message, workers, nofile))?;
    // Printed once tern is up: a start that fails later must not have
    // said it was listening.
    let mut listening = listening_lines(&listeners);
    settle_connection_cap(&mut plan, workers, nofile);
    signals::block();
    let inbox = control::open().ok_or("the control inbox was opened twice")?;
    forward_signals()?;
    let plan = Arc::new(plan);
    let shared = Shared::new(plan.server_count);
    let helpers = start_helpers(&plan, &shared.stop)?;
    let (links, inboxes) = crate::worker::inbox::channels(workers);
    let admin_view = Arc::new(Mutex::new(View {
        plan: plan.clone(),
        states: shared.states.clone(),
    }));
    let inherited_admin = handover.as_mut().and_then(|h| h.admin.take());
    let admin_socket = start_admin(&plan, inherited_admin, &shared, &admin_view, &links)?;
    if let Some((_, socket)) = &admin_socket {
        let addr = socket.local_addr().map_err(|err| err.to_string())?;
        listening.push(format!("listening on {addr} (admin)"));
    }
    let (handles, driver) = start_workers(
        &plan,
        &shared,
        &cores,
        listeners.per_worker,
        inboxes,
        nofile,
    )?;
    crate::acme::start();
    let table = Arc::new(Mutex::new(listeners.table));
    // All that can still fail comes before `ready`: once told, the old
    // process stops accepting, and a new one that failed after (a pid file
    // it can't write) left nothing serving.
    let _pid_file = plan
        .pid_file
        .as_deref()
        .map(control::write_pid)
        .transpose()?;
    let sockets = upgrade::serve::Sockets {
        table: table.clone(),
        admin: admin_socket,
    };
    let _upgrade_socket = serve_upgrades(&plan, start, sockets, &shared)?;
    if let Some(handover) = handover {
        handover.ready()?;
    }
    // `pinning::plan` leaves `cores` empty when no worker is pinned.
    announce(
        &listening,
        &plan,
        workers,
        driver,
        !cores.is_empty(),
        nofile,
    );
    let mut running = Running {
        config_path,
        plan,
        states: shared.states.clone(),
        listeners: table,
        workers: links,
        source,
        checker: helpers.checker_updates,
        discovery: helpers.discovery_updates,
        admin_view,
    };
    wait_for_stop(&inbox, &mut running, &shared.handed_over, workers);
    shared.stop.store(true, Ordering::Relaxed);
    join_all(handles.into_iter().chain(helpers.threads))
}

/// What the process learned setting itself up.
struct Process {
    /// The open-files limit, raised as far as allowed.
    nofile: u64,
    workers: usize,
    /// The cores the workers are pinned to, in order; empty when unpinned.
    cores: Vec<core_affinity::CoreId>,
}

/// The process-wide set-up before any thread starts: the error log, the
/// panic hook, the allocator, the open-files limit, and the worker count
/// and cores.
fn prepare_process(plan: &Plan) -> Result<Process, String> {
    crate::log::configure(plan.log.level, plan.log.error.as_deref())
        .map_err(|err| format!("cannot open the error log: {err}"))?;
    crate::contain::install_hook();
    crate::allocator::keep_freed_memory();
    let nofile = crate::rlimit::raise_nofile();
    // The CPUs this process may run on (taskset and cgroups are respected).
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let workers = crate::config::plan::worker_count(plan.workers, cores.len());
    let cores = crate::pinning::plan(plan.pin_workers, workers, &cores);
    Ok(Process {
        nofile,
        workers,
        cores,
    })
}

/// The threads beside the workers, and how a reload reaches them.
struct Helpers {
    threads: [JoinHandle<()>; 2],
    checker_updates: mpsc::Sender<Arc<Plan>>,
    discovery_updates: mpsc::Sender<crate::discovery::Wanted>,
}

/// Starts the active health checks' thread and DNS discovery's.
fn start_helpers(plan: &Arc<Plan>, stop: &Arc<AtomicBool>) -> Result<Helpers, String> {
    let (checker, checker_updates) = crate::health_checker::spawn(plan.clone(), stop.clone())
        .map_err(|err| format!("cannot start the health checker: {err}"))?;
    let (discovery, discovery_updates) =
        crate::discovery::thread::spawn(plan.discovery.clone(), stop.clone())
            .map_err(|err| format!("cannot start DNS discovery: {err}"))?;
    Ok(Helpers {
        threads: [checker, discovery],
        checker_updates,
        discovery_updates,
    })
}

/// Now that the worker count is known: the connection cap (`[server]
/// max_connections`, derived from the open-files limit unless set), and a
/// warning when that limit is low and sets the cap (a configured cap is
/// the operator's, and raising the limit would not raise it).
fn settle_connection_cap(plan: &mut Plan, workers: usize, nofile: u64) {
    plan.worker_count = workers;
    let configured = plan.max_connections.is_some();
    let cap = crate::config::plan::connection_cap::resolve_connection_cap(plan, workers, nofile);
    let warning = crate::rlimit::low_limit_warning(nofile, cap).filter(|_| !configured);
    if let Some(warning) = warning {
        crate::log::warn(format_args!("{warning}"));
    }
}

/// "listening on ADDR (NAME)" for every bound listener address.
fn listening_lines(listeners: &Listeners) -> Vec<String> {
    let entries = &listeners.table.entries;
    let line =
        |entry: &listen::table::Entry| format!("listening on {} ({})", entry.addr, entry.name);
    entries.iter().map(line).collect()
}

/// The upgrade socket a later tern takes the listeners over from, when one
/// is configured.
fn serve_upgrades(
    plan: &Plan,
    start: Start,
    sockets: upgrade::serve::Sockets,
    shared: &Shared,
) -> Result<Option<upgrade::serve::UpgradeSocket>, String> {
    let Some(path) = &plan.upgrade_socket else {
        return Ok(None);
    };
    let replacing = start == Start::Upgrade;
    upgrade::serve::start(path, replacing, sockets, shared.handed_over.clone()).map(Some)
}

/// Tells the operator tern is up: the listening lines, then the started
/// line last — whoever waits for it may use the pid file at once.
fn announce(
    listening: &[String],
    plan: &Plan,
    workers: usize,
    driver: Driver,
    pinned: bool,
    nofile: u64,
) {
    for line in listening {
        crate::log::stderr_line(&format!("{line}\n"));
    }
    crate::log::stderr_line(&format!(
        "tern {} started: workers={workers} driver={driver} pinned={pinned} listeners={} nofile={nofile}\n",
        crate::version_and_build(),
        plan.listeners.iter().map(|l| l.addrs.len()).sum::<usize>(),
    ));
}

/// Waits for every thread; a worker that died makes the stop an error.
fn join_all(handles: impl Iterator<Item = JoinHandle<()>>) -> Result<(), String> {
    for handle in handles {
        let _ = handle.join();
    }
    if worker::a_worker_died() {
        return Err("stopped because a worker died (see the log above)".into());
    }
    crate::log::info(format_args!("stopped"));
    Ok(())
}

/// Binds the listeners, or takes them over (and keeps the connection to the
/// old process, to tell it when this one is ready).
fn open_listeners(
    plan: &Plan,
    workers: usize,
    start: Start,
) -> Result<(Option<upgrade::take::Handover>, Listeners), String> {
    if start == Start::Fresh {
        return Ok((None, listen::bind_all(plan, workers)?));
    }
    let path = plan
        .upgrade_socket
        .as_deref()
        .ok_or("--upgrade needs [server] upgrade_socket in the configuration")?;
    let mut handover = upgrade::take::connect(path)?;
    let inherited = std::mem::take(&mut handover.entries);
    let listeners = listen::inherit::adopt(plan, workers, inherited)?;
    Ok((Some(handover), listeners))
}

/// Starts the workers one at a time, each once the one before runs: a
/// worker that can't start (too many for the open-files limit) stops the
/// start with one line, before the next tries and fails the same way.
/// They accept once all run.
fn start_workers(
    plan: &Arc<Plan>,
    shared: &Shared,
    cores: &[core_affinity::CoreId],
    sockets: Vec<Vec<Bound>>,
    inboxes: Vec<Inbox>,
    nofile: u64,
) -> Result<(Vec<JoinHandle<()>>, Driver), String> {
    let workers = sockets.len();
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut handles = Vec::new();
    let mut gos = Vec::new();
    let mut driver = Driver::IoUring;
    for (id, (listeners, inbox)) in sockets.into_iter().zip(inboxes).enumerate() {
        let (go, wait_for_go) = mpsc::channel();
        let spec = WorkerSpec {
            id,
            core: cores.get(id).copied(),
            listeners,
            plan: plan.clone(),
            stop: shared.stop.clone(),
            handed_over: shared.handed_over.clone(),
            server_states: shared.states.clone(),
            inbox,
            go: wait_for_go,
        };
        let handle = worker::spawn(spec, ready_tx.clone())
            .map_err(|err| format!("cannot start worker {id}: {err}"))?;
        handles.push(handle);
        gos.push(go);
        if wait_ready(&ready_rx, (id, workers), nofile)? == Driver::Epoll {
            driver = Driver::Epoll;
        }
    }
    for go in gos {
        let _ = go.send(());
    }
    Ok((handles, driver))
}

/// Starts the admin endpoint if configured, on the socket the old process
/// handed over when it was bound for the same `[admin] bind`; returns a
/// duplicate of the socket (by its configured address) for the next upgrade.
fn start_admin(
    plan: &Plan,
    inherited: Option<(SocketAddr, TcpListener)>,
    shared: &Shared,
    view: &Arc<Mutex<View>>,
    links: &Workers,
) -> Result<Option<(SocketAddr, TcpListener)>, String> {
    let Some(config) = plan.admin else {
        return Ok(None);
    };
    let listener = match inherited {
        Some((configured, socket)) if configured == config.bind => socket,
        _ => TcpListener::bind(config.bind)
            .map_err(|err| format!("cannot listen on {} (admin): {err}", config.bind))?,
    };
    let duplicate = listener
        .try_clone()
        .map_err(|err| format!("admin: {err}"))?;
    let listening = admin::Listening {
        listener,
        handed_over: shared.handed_over.clone(),
    };
    admin::start(config, listening, view.clone(), links.clone())?;
    Ok(Some((config.bind, duplicate)))
}

/// Worker `id` (of `workers`) reports its driver, or why it could not
/// start, which stops the start.
fn wait_ready(
    ready: &mpsc::Receiver<Result<Driver, worker::StartFailure>>,
    (id, workers): (usize, usize),
    nofile: u64,
) -> Result<Driver, String> {
    match ready.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(driver)) => Ok(driver),
        Ok(Err(failure)) => Err(start_failure(&failure, (id, workers), nofile)),
        Err(_) => Err(format!("worker {id} did not start within 10 s")),
    }
}

/// The one line a failed start says: which worker, what it could not make
/// and why; when the open-files limit is why, what to change.
fn start_failure(
    failure: &worker::StartFailure,
    (id, workers): (usize, usize),
    nofile: u64,
) -> String {
    let line = format!(
        "cannot start worker {id} of {workers}: cannot make {}: {}",
        failure.making, failure.err
    );
    if failure.err.raw_os_error() != Some(libc::EMFILE) {
        return line;
    }
    files_hint(line, workers, nofile)
}

/// A failed bind said why in words: when the open-files limit is why (a
/// socket per worker per listening address), what to change too.
fn with_files_hint(message: String, workers: usize, nofile: u64) -> String {
    let emfile = std::io::Error::from_raw_os_error(libc::EMFILE).to_string();
    match message.ends_with(&emfile) {
        true => files_hint(message, workers, nofile),
        false => message,
    }
}

fn files_hint(line: String, workers: usize, nofile: u64) -> String {
    format!(
        "{line}; the open files limit ({nofile}) does not hold {workers} workers: lower [server] workers (one per CPU serves best) or raise the limit (LimitNOFILE)"
    )
}

/// Signals become control requests, on a thread of their own (every thread
/// blocks them; this one takes them with sigwait), so the main thread has
/// one inbox.
fn forward_signals() -> Result<(), String> {
    let forward = || loop {
        let request = match signals::wait() {
            Signal::Stop => Request::Stop,
            Signal::Quit => Request::Quit,
            Signal::Reload => Request::Reload(None),
            Signal::ReopenLogs => Request::ReopenLogs,
        };
        control::ask(request);
    };
    std::thread::Builder::new()
        .name("tern-signals".into())
        .spawn(forward)
        .map(drop)
        .map_err(|err| format!("cannot start the signal thread: {err}"))
}

/// The control plane's owner: takes requests one at a time until a stop.
fn wait_for_stop(
    inbox: &mpsc::Receiver<Request>,
    running: &mut Running,
    handed_over: &AtomicBool,
    workers: usize,
) {
    while let Ok(request) = inbox.recv() {
        match request {
            Request::Stop => {
                let why = if handed_over.load(Ordering::Relaxed) {
                    "handed over to the new process"
                } else {
                    "stopping"
                };
                crate::log::info(format_args!(
                    "{why}: no new connections, {:?} for requests in flight",
                    running.plan.shutdown_grace
                ));
                return;
            }
            Request::Quit => {
                crate::log::info(format_args!("SIGQUIT: stopping at once"));
                worker::quit::and_wait(workers, QUIT_FLUSH_WAIT);
                if let Some(pid_file) = running.plan.pid_file.as_deref() {
                    control::remove_pid_file(pid_file);
                }
                std::process::exit(0);
            }
            Request::Reload(requester) => {
                let outcome = reload::reload_and_log(running);
                if let Some(requester) = requester {
                    let _ = requester.send(outcome);
                }
            }
            Request::Discovered => reload::dns::apply_answers(running),
            Request::ReopenLogs => {
                crate::log::reopen();
                crate::log::info(format_args!("SIGUSR1: log files reopened"));
            }
        }
    }
}
