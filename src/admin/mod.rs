//! The admin endpoint (`[admin] bind`): metrics, status and run-time server
//! states, served apart from the workers with blocking sockets (it sees a
//! scrape every few seconds, not traffic): an accept thread (which stops
//! once a binary upgrade handed its socket to the new process), and a short
//! thread per connection that reads its request and writes the answer, so
//! a slow client holds only its own (`MAX_CONNECTIONS` of them at once).
//! Answering takes turns (`Admin` behind a mutex). It reaches the workers
//! only through their inboxes (`link`) and the shared server-state table.

pub mod endpoints;
pub mod guard;
pub mod http;
pub mod limits;
pub mod page;
pub mod prometheus;
pub mod rates;
pub mod status;

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::config::admin::AdminPlan;
use crate::config::Plan;
use crate::upstream::server_state::ServerStates;
use crate::worker::inbox::Workers;
use endpoints::Admin;
use http::{read_request, write_response, Deadline, Response};
use http::{REQUEST_DEADLINE, RESPONSE_DEADLINE};

/// The plan and server states the endpoint shows: replaced by a reload.
pub struct View {
    pub plan: Arc<Plan>,
    pub states: Arc<ServerStates>,
}

/// The endpoint's socket, and when to let it go.
pub struct Listening {
    /// Bound for `[admin] bind`, or taken over (see `crate::upgrade`).
    pub listener: TcpListener,
    /// Set once a new process took the sockets over: it answers from then.
    pub handed_over: Arc<AtomicBool>,
}

/// Starts the endpoint's thread on `listening`.
pub fn start(
    config: AdminPlan,
    listening: Listening,
    view: Arc<Mutex<View>>,
    workers: Workers,
) -> Result<(), String> {
    let Listening {
        listener,
        handed_over,
    } = listening;
    // Non-blocking, so a connection another process (the one an upgrade
    // started) took first can't leave this thread stuck in accept.
    listener
        .set_nonblocking(true)
        .map_err(|err| format!("admin: {err}"))?;
    let (plan, states) = match view.lock() {
        Ok(current) => (current.plan.clone(), current.states.clone()),
        Err(_) => return Err("the admin view is poisoned".into()),
    };
    let admin = Admin {
        plan,
        states,
        view,
        workers,
        started: Instant::now(),
        rates: Default::default(),
    };
    let loopback_only = config.bind.ip().is_loopback();
    std::thread::Builder::new()
        .name("tern-admin".into())
        .spawn(move || serve(listener, admin, loopback_only, &handed_over))
        .map_err(|err| format!("cannot start the admin thread: {err}"))?;
    Ok(())
}

/// Connections served at once. A scrape needs one for a moment, so this
/// leaves room for scrapers and a few browsers while bounding the threads a
/// flood of connections can start; past it, connections wait in the listen
/// queue until one ends, which the deadlines of `http` bound (5 s to send a
/// request, 10 s to take the answer).
const MAX_CONNECTIONS: usize = 64;

/// How often a waiting accept looks whether the socket was handed over.
const HANDED_OVER_CHECK: Duration = Duration::from_millis(100);

/// Accepts until a new process took the socket over.
fn serve(listener: TcpListener, admin: Admin, loopback_only: bool, handed_over: &AtomicBool) {
    let admin = Arc::new(Mutex::new(admin));
    let slots = Arc::new(Slots::default());
    while !handed_over.load(Ordering::Relaxed) {
        let slot = slots.take();
        // Looked at again after the wait: the socket may have gone over
        // while this thread waited.
        if !readable(&listener, HANDED_OVER_CHECK) || handed_over.load(Ordering::Relaxed) {
            continue;
        }
        match listener.accept() {
            // Blocking: on Linux an accepted socket has none of the
            // listener's O_NONBLOCK.
            Ok((stream, _)) => spawn_answer(stream, slot, admin.clone(), loopback_only),
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Err(err) => {
                if let Some(line) = accept_failure_line(&err) {
                    crate::log::warn(format_args!("{line}"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Whether `listener` has a connection waiting, after at most `limit`.
fn readable(listener: &TcpListener, limit: Duration) -> bool {
    let mut poll = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = limit.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: one pollfd, valid for the call.
    unsafe { libc::poll(&mut poll, 1, ms) > 0 }
}

/// Answers `stream` on a thread of its own, which gives `slot` back when done.
fn spawn_answer(stream: TcpStream, slot: Slot, admin: Arc<Mutex<Admin>>, loopback_only: bool) {
    let spawned = std::thread::Builder::new()
        .name("tern-admin-conn".into())
        .spawn(move || {
            answer(stream, &admin, loopback_only);
            drop(slot);
        });
    if let Err(err) = spawned {
        // The closure, with the connection and the slot, is dropped.
        crate::log::warn(format_args!(
            "admin: cannot start a connection thread: {err}"
        ));
    }
}

/// How many connections are being answered; `take` waits for a free slot.
#[derive(Default)]
struct Slots {
    busy: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn take(self: &Arc<Self>) -> Slot {
        let mut busy = self.count();
        while *busy >= MAX_CONNECTIONS {
            busy = self
                .freed
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *busy += 1;
        Slot(self.clone())
    }

    /// The count is only ever added to or taken from, so a thread that
    /// panicked holding it left it sound.
    fn count(&self) -> MutexGuard<'_, usize> {
        self.busy.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One connection's place among `MAX_CONNECTIONS`, given back on drop (also
/// when its thread panics).
struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut busy = self.0.count();
        *busy = busy.saturating_sub(1);
        self.0.freed.notify_one();
    }
}

/// What a failed accept logs here, if anything. Out of descriptors is one
/// episode for the whole process, logged once by `rlimit::exhausted` (and
/// ended by the workers' next accept or connect), not once per 100 ms
/// retry of this loop.
fn accept_failure_line(err: &std::io::Error) -> Option<String> {
    if crate::rlimit::is_exhaustion(err) {
        crate::rlimit::exhausted("admin accept", err);
        return None;
    }
    Some(format!("admin: accept failed: {err}"))
}

/// Reads the request and writes the answer, each by its deadline; only
/// working out the answer takes turns with the other connections.
fn answer(mut stream: TcpStream, admin: &Mutex<Admin>, loopback_only: bool) {
    let response = match read_request(&mut stream, Deadline::after(REQUEST_DEADLINE)) {
        Ok(req) => match guard::check(&req, loopback_only) {
            // A panic while answering leaves the state that shows the
            // endpoint (a copy of the plan, rates) fit to answer the next.
            Ok(()) => admin
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .handle(&req),
            Err(reason) => Response::text(403, reason),
        },
        Err(status) => Response::text(status, crate::http::status::reason(status)),
    };
    let _ = write_response(&mut stream, &response, Deadline::after(RESPONSE_DEADLINE));
}

#[cfg(test)]
mod tests {
    use super::accept_failure_line;
    use std::io::Error;

    #[test]
    fn running_out_of_descriptors_is_left_to_the_episode_log() {
        for code in [libc::EMFILE, libc::ENFILE] {
            assert_eq!(accept_failure_line(&Error::from_raw_os_error(code)), None);
        }
    }

    #[test]
    fn other_accept_failures_are_logged_each_time() {
        let line = accept_failure_line(&Error::from_raw_os_error(libc::ENOBUFS));
        assert!(line.is_some_and(|line| line.starts_with("admin: accept failed: ")));
    }
}
