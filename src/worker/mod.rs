//! One worker: an OS thread (pinned to a CPU or not: `pinning`), running its
//! own monoio runtime, accepting on its own listeners and serving every connection it accepts.

mod accept;
pub mod inbox;
pub mod quit;
pub mod reload;

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use monoio::net::TcpListener;

use crate::config::Plan;
use crate::listen::Bound;
use crate::listen::ListenerInfo;
use crate::metrics::snapshot::ListenerFd;
use crate::metrics::WorkerSnapshot;
use crate::runtime::{self, Driver};
use crate::upstream::server_state::ServerStates;
use crate::worker::inbox::Inbox;
use crate::worker_ctx::WorkerCtx;
pub use accept::{Listening, Stop};

/// How often a worker looks at the process-wide stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);
/// How long a stopping worker waits for its log lines to reach their
/// files; a file that takes nothing for this long loses them (said in the
/// error log) rather than holding the stop forever.
const LOG_WRITE_WAIT: Duration = Duration::from_secs(5);

pub struct WorkerSpec {
    pub id: usize,
    pub core: Option<core_affinity::CoreId>,
    pub listeners: Vec<Bound>,
    pub plan: Arc<Plan>,
    pub stop: Arc<AtomicBool>,
    /// Set before `stop` when a new process took the listening sockets
    /// over: stop accepting without shutting them down.
    pub handed_over: Arc<AtomicBool>,
    /// Shared with the admin endpoint, which drains and enables servers.
    pub server_states: Arc<ServerStates>,
    /// Where the admin endpoint asks for this worker's numbers.
    pub inbox: Inbox,
    /// Said once every worker runs: only then does this one accept. A
    /// start that fails at a later worker has accepted no connection, and
    /// no accept was posted while later workers took the last descriptors
    /// (io_uring takes one for an accept before any connection comes).
    pub go: Receiver<()>,
}

/// Why a worker could not start: what it could not make, and the error.
#[derive(Debug)]
pub struct StartFailure {
    /// "a runtime", "a doorbell".
    pub making: &'static str,
    pub err: std::io::Error,
}

/// What a worker tells the main thread once it runs (its driver), or why
/// it could not start.
pub type Ready = Sender<Result<Driver, StartFailure>>;

/// Starts the worker thread; it reports the driver in use (or why it could
/// not start) on `ready`.
pub fn spawn(spec: WorkerSpec, ready: Ready) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("tern-worker-{}", spec.id))
        .spawn(move || {
            if let Some(core) = spec.core {
                core_affinity::set_for_current(core);
            }
            let (mut rt, driver) = match runtime::build() {
                Ok(built) => built,
                Err(err) => {
                    let making = "a runtime";
                    let _ = ready.send(Err(StartFailure { making, err }));
                    return;
                }
            };
            let id = spec.id;
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(run(spec, ready, driver));
            }));
            if ran.is_err() {
                worker_died(id);
            }
        })
}

/// Set when a worker thread ended by a panic: the process stops and exits
/// non-zero, so that the service manager restarts it, rather than living on
/// with a socket nobody accepts on.
static WORKER_DIED: AtomicBool = AtomicBool::new(false);

pub fn a_worker_died() -> bool {
    WORKER_DIED.load(Ordering::Relaxed)
}

fn worker_died(id: usize) {
    crate::log::error(format_args!(
        "worker {id} died (a panic outside any connection); stopping tern to be restarted"
    ));
    WORKER_DIED.store(true, Ordering::Relaxed);
    crate::control::ask(crate::control::Request::Stop);
}

/// Installs the worker's doorbell, then tells the main thread the worker
/// runs. A doorbell refused for want of descriptors fails the start (the
/// process has more workers than its open-files limit holds: the next
/// would fail too); another failure leaves the worker without one.
fn ring_in(id: usize, ready: Ready, driver: Driver) -> bool {
    match crate::doorbell::install(id) {
        Err(err) if crate::rlimit::is_exhaustion(&err) => {
            let making = "a doorbell";
            let _ = ready.send(Err(StartFailure { making, err }));
            return false;
        }
        Err(err) => crate::log::error(format_args!(
            "worker {id}: no doorbell ({err}): a request queued here for a server's max_connections waits for a slot freed on this worker, and one waiting for a file thread looks for its answer every millisecond"
        )),
        Ok(()) => {}
    }
    let _ = ready.send(Ok(driver));
    true
}

async fn run(spec: WorkerSpec, ready: Ready, driver: Driver) {
    // The context (and its access log) before the worker says it runs:
    // tern says it started, and an upgrade's old process stops accepting,
    // only once every worker can log what it serves.
    let ctx = WorkerCtx::new(spec.id, spec.plan).with_server_states(spec.server_states);
    let worker = Rc::new(Worker {
        id: spec.id,
        current: RefCell::new(Rc::new(ctx)),
        listening: RefCell::new(Vec::new()),
        retired: RefCell::new(Vec::new()),
    });
    if !ring_in(spec.id, ready, driver) {
        return;
    }
    // Blocking the thread, on purpose: nothing runs on it before it
    // accepts. No word (the sender dropped): the start failed.
    if spec.go.recv().is_err() {
        return;
    }
    for bound in spec.listeners {
        worker.listen(bound);
    }
    worker.publish_listeners();
    monoio::spawn(sweep_pool(worker.clone()));
    monoio::spawn(crate::timer::ticker());
    let _log_writes = crate::log::writer::OnWorker::start();
    let inbox = spec.inbox;
    while !spec.stop.load(Ordering::Relaxed) {
        monoio::time::sleep(STOP_POLL).await;
        if crate::contain::worker_panic_requested() {
            panic!("injected by TERN_DEBUG_WORKER_PANIC (debug build)");
        }
        inbox.answer(&worker);
        worker.flush_access_logs();
        let now = std::time::Instant::now();
        crate::compress::release_unused_compressors(now);
        crate::buffer::trim_after_burst(now);
        if quit::requested() {
            // SIGQUIT: the main thread exits once every worker flushed.
            crate::log::writer::written(LOG_WRITE_WAIT).await;
            quit::flushed();
            return;
        }
    }
    let how = if spec.handed_over.load(Ordering::Relaxed) {
        Stop::Detach
    } else {
        Stop::Close
    };
    drain(&worker, how).await;
    // Connections still open after the grace period are never dropped
    // (the process exits): their requests are counted and logged as cut,
    // and what their generations hold is written.
    worker.cut_in_flight();
    worker.flush_access_logs();
    crate::log::writer::written(LOG_WRITE_WAIT).await;
}

/// Stops accepting, lets connections finish up to the grace period.
async fn drain(worker: &Worker, how: Stop) {
    for slot in worker.listening.borrow().iter() {
        slot.stop(how);
    }
    let ctx = worker.current();
    ctx.drain.start();
    let deadline = std::time::Instant::now() + ctx.plan.shutdown_grace;
    // Always yield at least once: the accept loops must run to finish
    // their cancelled accepts and close their sockets. A runtime that is
    // simply dropped never submits the io_uring close of its sockets.
    loop {
        monoio::time::sleep(Duration::from_millis(20)).await;
        if ctx.connections.open() == 0 || std::time::Instant::now() >= deadline {
            return;
        }
    }
}

/// One worker thread's state across reloads.
pub struct Worker {
    pub id: usize,
    /// The newest generation: what new connections and requests use.
    current: RefCell<Rc<WorkerCtx>>,
    /// Every accept loop started, stopped ones included until a reload
    /// sweeps them out.
    listening: RefCell<Vec<Rc<Listening>>>,
    /// Replaced generations, while connections still hold them: their
    /// access log lines are written at every tick like the current one's.
    retired: RefCell<Vec<Weak<WorkerCtx>>>,
}

impl Worker {
    pub fn current(&self) -> Rc<WorkerCtx> {
        self.current.borrow().clone()
    }

    /// Keeps a replaced generation in view for `flush_access_logs`.
    fn retire(&self, old: &Rc<WorkerCtx>) {
        self.retired.borrow_mut().push(Rc::downgrade(old));
    }

    /// The worker's numbers: the current generation's, with the gauges of
    /// the replaced generations that still serve requests.
    pub fn snapshot(&self) -> WorkerSnapshot {
        let mut snapshot = self.current().snapshot(&self.listener_fds());
        for old in self.retired.borrow().iter().filter_map(Weak::upgrade) {
            crate::metrics::snapshot::add_gauges(&old.stats, &mut snapshot);
        }
        snapshot
    }

    /// At exit, after the grace period: the requests still in flight in
    /// every generation, counted and logged as they stand, and said.
    fn cut_in_flight(&self) {
        let generations = self
            .retired
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .collect::<Vec<_>>();
        let cut: usize = std::iter::once(self.current())
            .chain(generations)
            .map(|ctx| ctx.stats.cut_in_flight())
            .sum();
        if cut > 0 {
            crate::log::warn(format_args!(
                "worker {}: shutdown_grace ran out with {cut} requests in flight: cut (logged with what they had sent)",
                self.id
            ));
        }
    }

    /// Writes the access log lines every generation has buffered (the
    /// worker's tick, and on exit); forgets generations that are gone.
    fn flush_access_logs(&self) {
        self.current().stats.flush_access_log();
        self.retired.borrow_mut().retain(|old| match old.upgrade() {
            Some(ctx) => {
                ctx.stats.flush_access_log();
                true
            }
            None => false,
        });
    }

    /// Starts accepting on a socket bound for this worker.
    pub fn listen(self: &Rc<Self>, bound: Bound) {
        let info = Rc::new(ListenerInfo {
            addr: bound.addr,
            index: bound.index,
            tls: bound.tls,
        });
        match TcpListener::from_std(bound.socket) {
            Ok(listener) => {
                let slot = accept::start(listener, info, self.clone());
                self.listening.borrow_mut().push(slot);
            }
            Err(err) => crate::log::error(format_args!(
                "listener {} on {}: {err}",
                bound.name, bound.addr
            )),
        }
    }

    /// Tells the current generation which listeners it has.
    fn publish_listeners(&self) {
        let infos = self
            .listening
            .borrow()
            .iter()
            .filter(|slot| !slot.is_stopped())
            .map(|slot| slot.info())
            .collect();
        self.current().set_listeners(infos);
    }

    /// Accepting sockets, for their accept queue lengths in the metrics.
    pub fn listener_fds(&self) -> Vec<ListenerFd> {
        self.listening
            .borrow()
            .iter()
            .filter(|slot| !slot.is_stopped())
            .map(|slot| slot.index_and_fd())
            .collect()
    }
}

async fn sweep_pool(worker: Rc<Worker>) {
    loop {
        let interval = worker.current().pool.sweep_interval();
        monoio::time::sleep(interval).await;
        let ctx = worker.current();
        if ctx.drain.is_draining() {
            return;
        }
        ctx.pool.sweep();
    }
}
