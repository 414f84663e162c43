//! The admin endpoint (`[admin] bind`): metrics, status and run-time server
//! states, served by a thread of its own with blocking sockets (it sees a
//! scrape every few seconds, not traffic), one connection at a time. It
//! reaches the workers only through their inboxes (`link`) and the shared
//! server-state table.

pub mod endpoints;
pub mod guard;
pub mod http;
pub mod limits;
pub mod page;
pub mod prometheus;
pub mod rates;
pub mod status;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
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

/// Binds the endpoint and starts its thread; returns the bound address.
pub fn start(
    config: AdminPlan,
    view: Arc<Mutex<View>>,
    workers: Workers,
) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(config.bind)
        .map_err(|err| format!("cannot listen on {} (admin): {err}", config.bind))?;
    let addr = listener.local_addr().map_err(|err| err.to_string())?;
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
        .spawn(move || serve(listener, admin, loopback_only))
        .map_err(|err| format!("cannot start the admin thread: {err}"))?;
    Ok(addr)
}

fn serve(listener: TcpListener, mut admin: Admin, loopback_only: bool) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => answer(stream, &mut admin, loopback_only),
            Err(err) => {
                if let Some(line) = accept_failure_line(&err) {
                    crate::log::warn(format_args!("{line}"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
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

fn answer(mut stream: TcpStream, admin: &mut Admin, loopback_only: bool) {
    let response = match read_request(&mut stream, Deadline::after(REQUEST_DEADLINE)) {
        Ok(req) => match guard::check(&req, loopback_only) {
            Ok(()) => admin.handle(&req),
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
