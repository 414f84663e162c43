//! One worker: an OS thread pinned to a CPU, running its own monoio runtime,
//! accepting on its own listeners and serving every connection it accepts.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use monoio::net::TcpListener;

use crate::admin::link::Inbox;
use crate::admin::server_state::ServerStates;
use crate::config::Plan;
use crate::listen::Bound;
use crate::proxy::{self, ListenerInfo};
use crate::runtime::{self, Driver};
use crate::worker_ctx::WorkerCtx;

/// How often a worker looks at the process-wide stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);
/// Pause after a failed accept (e.g. out of descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub struct WorkerSpec {
    pub id: usize,
    pub core: Option<core_affinity::CoreId>,
    pub listeners: Vec<Bound>,
    pub plan: Arc<Plan>,
    pub stop: Arc<AtomicBool>,
    /// Shared with the admin endpoint, which drains and enables servers.
    pub server_states: Arc<ServerStates>,
    /// Where the admin endpoint asks for this worker's numbers.
    pub inbox: Inbox,
}

/// Starts the worker thread; it reports the driver in use (or why it could
/// not start) on `ready`.
pub fn spawn(
    spec: WorkerSpec,
    ready: Sender<Result<Driver, String>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("tern-worker-{}", spec.id))
        .spawn(move || {
            if let Some(core) = spec.core {
                core_affinity::set_for_current(core);
            }
            let (mut rt, driver) = match runtime::build() {
                Ok(built) => built,
                Err(err) => {
                    let _ = ready.send(Err(format!(
                        "worker {}: cannot start a runtime: {err}",
                        spec.id
                    )));
                    return;
                }
            };
            let _ = ready.send(Ok(driver));
            rt.block_on(run(spec));
        })
}

async fn run(spec: WorkerSpec) {
    let ctx = Rc::new(WorkerCtx::new(spec.id, spec.plan).with_server_states(spec.server_states));
    let mut inbox = spec.inbox;
    let mut listener_fds = Vec::new();
    for bound in spec.listeners {
        listener_fds.push((bound.index, bound.socket.as_raw_fd()));
        let info = Rc::new(ListenerInfo {
            index: bound.index,
            tls: bound.tls,
        });
        match TcpListener::from_std(bound.socket) {
            Ok(listener) => {
                monoio::spawn(accept_loop(listener, info, ctx.clone()));
            }
            Err(err) => crate::log::error(format_args!(
                "listener {} on {}: {err}",
                bound.name, bound.addr
            )),
        }
    }
    inbox.set_listeners(listener_fds);
    monoio::spawn(sweep_pool(ctx.clone()));
    monoio::spawn(crate::timer::ticker());
    while !spec.stop.load(Ordering::Relaxed) {
        monoio::time::sleep(STOP_POLL).await;
        inbox.answer(&ctx);
        ctx.stats.flush_access_log();
    }
    drain(&ctx).await;
    ctx.stats.flush_access_log();
}

/// Stops accepting, lets connections finish up to the grace period.
async fn drain(ctx: &WorkerCtx) {
    ctx.drain.start();
    let deadline = std::time::Instant::now() + ctx.plan.shutdown_grace;
    // Always yield at least once: the accept loops must run to shut their
    // listeners down. A runtime that is simply dropped never submits the
    // io_uring close of its sockets, and the kernel would go on queueing
    // connections for a listener nobody accepts on.
    loop {
        monoio::time::sleep(Duration::from_millis(20)).await;
        if ctx.connections.get() == 0 || std::time::Instant::now() >= deadline {
            return;
        }
    }
}

async fn accept_loop(listener: TcpListener, info: Rc<ListenerInfo>, ctx: Rc<WorkerCtx>) {
    loop {
        let accepted = monoio::select! {
            accepted = listener.accept() => accepted,
            _ = ctx.drain.wait() => return stop_listening(&listener),
        };
        match accepted {
            Ok((stream, peer)) => {
                // TCP_NODELAY is inherited from the listener (listen.rs).
                monoio::spawn(proxy::serve(stream, peer, info.clone(), ctx.clone()));
            }
            Err(err) => {
                crate::log::warn(format_args!("worker {}: accept failed: {err}", ctx.id));
                monoio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Stops the kernel from queueing connections for this socket at once.
/// Dropping the listener is not enough under io_uring: its close waits for
/// the cancelled accept, and new clients would still be queued meanwhile.
fn stop_listening(listener: &TcpListener) {
    // SAFETY: shutdown on a descriptor this listener owns.
    unsafe {
        libc::shutdown(listener.as_raw_fd(), libc::SHUT_RD);
    }
}

async fn sweep_pool(ctx: Rc<WorkerCtx>) {
    let interval = ctx.pool.sweep_interval();
    while !ctx.drain.is_draining() {
        monoio::time::sleep(interval).await;
        ctx.pool.sweep();
    }
}
