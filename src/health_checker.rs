//! Active health checks: one thread for the whole process (its own small
//! epoll runtime), one task per distinct server address. Each probe is a
//! plain HTTP/1.1 request on a fresh connection; `rise` successes in a row
//! bring a server up, `fall` failures take it down, and each change is
//! logged. Workers only read the result (see `upstream::health`). A reload
//! sends the new plan: the probes of the old one stop, the new plan's start
//! from the state of the addresses it kept (plans share health by address).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::{LegacyDriver, RuntimeBuilder};

use crate::config::Plan;
use crate::upstream::health::Probe;

/// How often the checker looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);
/// The status line must arrive within this many bytes.
const MAX_STATUS_LINE: usize = 1024;

/// Starts the checker thread; new plans go to the returned sender.
pub fn spawn(
    plan: Arc<Plan>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(JoinHandle<()>, Sender<Arc<Plan>>)> {
    let (updates, plans) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("tern-health".into())
        .spawn(move || {
            let built = RuntimeBuilder::<LegacyDriver>::new().enable_timer().build();
            match built {
                Ok(mut rt) => rt.block_on(run(plan, plans, stop)),
                Err(err) => crate::log::error(format_args!("health checks cannot start: {err}")),
            }
        })?;
    Ok((handle, updates))
}

/// Which plan's probes may go on: a probe of an older one stops.
type Generation = Rc<Cell<u64>>;

async fn run(mut plan: Arc<Plan>, plans: Receiver<Arc<Plan>>, stop: Arc<AtomicBool>) {
    let generation = Generation::default();
    start_probes(&plan, &generation, &stop);
    while !stop.load(Ordering::Relaxed) {
        monoio::time::sleep(STOP_POLL).await;
        while let Ok(next) = plans.try_recv() {
            plan = next;
            generation.set(generation.get() + 1);
            start_probes(&plan, &generation, &stop);
        }
    }
}

fn start_probes(plan: &Arc<Plan>, generation: &Generation, stop: &Arc<AtomicBool>) {
    for index in 0..plan.health.probes.len() {
        let mine = Watch {
            plan: plan.clone(),
            generation: generation.clone(),
            born: generation.get(),
            stop: stop.clone(),
        };
        monoio::spawn(watch(mine, index));
    }
}

struct Watch {
    plan: Arc<Plan>,
    generation: Generation,
    /// The generation this probe belongs to.
    born: u64,
    stop: Arc<AtomicBool>,
}

impl Watch {
    fn current(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.generation.get() == self.born
    }
}

/// Probes one address every interval and flips its flag on rise/fall.
async fn watch(this: Watch, index: usize) {
    let Some(probe) = this.plan.health.probes.get(index) else {
        return;
    };
    let check = &probe.check;
    // Carried over on a reload; up on a fresh start.
    let mut up = this.plan.health.is_up(probe.slot);
    let mut contrary = 0u32;
    while this.current() {
        let result = probe_once(probe).await;
        let healthy = matches!(result, Ok(status) if check.healthy(status));
        if healthy == up {
            contrary = 0;
        } else {
            contrary += 1;
            if contrary >= if up { check.fall } else { check.rise } {
                up = healthy;
                contrary = 0;
                this.plan.health.set(probe.slot, up);
                log_change(probe, up, &result);
            }
        }
        monoio::time::sleep(check.interval).await;
    }
}

fn log_change(probe: &Probe, up: bool, result: &Result<u16, String>) {
    if up {
        crate::log::info(format_args!(
            "server {} is up (health check passed)",
            probe.label
        ));
    } else {
        let why = match result {
            Ok(status) => format!("status {status}"),
            Err(err) => err.clone(),
        };
        crate::log::warn(format_args!(
            "server {} is down (health check: {why})",
            probe.label
        ));
    }
}

/// One check: the response's status code, or why there was none.
async fn probe_once(probe: &Probe) -> Result<u16, String> {
    match monoio::time::timeout(probe.check.timeout, request(probe)).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {:?}", probe.check.timeout)),
    }
}

async fn request(probe: &Probe) -> Result<u16, String> {
    let mut stream = TcpStream::connect_addr(probe.address)
        .await
        .map_err(|err| format!("connect: {err}"))?;
    let check = &probe.check;
    let host = check
        .host
        .clone()
        .unwrap_or_else(|| probe.address.to_string());
    let mut head = Vec::new();
    if let Some(version) = probe.send_proxy {
        crate::proxy_protocol::write_local(version, &mut head);
    }
    head.extend_from_slice(format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tern-health-check\r\nConnection: close\r\n\r\n",
        check.method, check.path
    ).as_bytes());
    let (written, _) = stream.write_all(head).await;
    written.map_err(|err| format!("write: {err}"))?;
    let mut received = Vec::new();
    while received.len() < MAX_STATUS_LINE && memchr::memchr(b'\n', &received).is_none() {
        let (read, buf) = stream.read(Vec::with_capacity(MAX_STATUS_LINE)).await;
        match read {
            Ok(0) => break,
            Ok(_) => received.extend_from_slice(&buf),
            Err(err) => return Err(format!("read: {err}")),
        }
    }
    status_code(&received).ok_or_else(|| "not an HTTP response".to_owned())
}

/// `HTTP/1.x NNN ...` → NNN.
fn status_code(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let digits = rest.get(2..5)?;
    if rest.get(1) != Some(&b' ') || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::status_code;

    #[test]
    fn reads_the_status_code() {
        assert_eq!(status_code(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(status_code(b"HTTP/1.0 503 x"), Some(503));
        assert_eq!(status_code(b"HTTP/1.1 20"), None);
        assert_eq!(status_code(b"SSH-2.0-OpenSSH"), None);
    }
}
