//! Active health checks: one thread for the whole process (its own small
//! epoll runtime), one task per distinct server address. Each probe is a
//! plain HTTP/1.1 request on a fresh connection; `rise` successes in a row
//! bring a server up, `fall` failures take it down, and each change is
//! logged. Workers only read the result (see `health.rs`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use monoio::{LegacyDriver, RuntimeBuilder};

use super::health::Probe;
use crate::config::Plan;

/// How often the checker looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(100);
/// The status line must arrive within this many bytes.
const MAX_STATUS_LINE: usize = 1024;

/// Starts the checker if any backend has `health_check`.
pub fn spawn(plan: Arc<Plan>, stop: Arc<AtomicBool>) -> std::io::Result<Option<JoinHandle<()>>> {
    if plan.health.probes.is_empty() {
        return Ok(None);
    }
    std::thread::Builder::new()
        .name("tern-health".into())
        .spawn(move || {
            let built = RuntimeBuilder::<LegacyDriver>::new().enable_timer().build();
            let mut rt = match built {
                Ok(rt) => rt,
                Err(err) => {
                    crate::log::error(format_args!("health checks cannot start: {err}"));
                    return;
                }
            };
            rt.block_on(async move {
                for index in 0..plan.health.probes.len() {
                    monoio::spawn(watch(plan.clone(), index, stop.clone()));
                }
                while !stop.load(Ordering::Relaxed) {
                    monoio::time::sleep(STOP_POLL).await;
                }
            });
        })
        .map(Some)
}

/// Probes one address every interval and flips its flag on rise/fall.
async fn watch(plan: Arc<Plan>, index: usize, stop: Arc<AtomicBool>) {
    let probe = &plan.health.probes[index];
    let check = &probe.check;
    let mut up = true;
    let mut contrary = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let result = probe_once(probe).await;
        let healthy = matches!(result, Ok(status) if check.healthy(status));
        if healthy == up {
            contrary = 0;
        } else {
            contrary += 1;
            if contrary >= if up { check.fall } else { check.rise } {
                up = healthy;
                contrary = 0;
                plan.health.set(probe.slot, up);
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
    let head = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tern-health-check\r\nConnection: close\r\n\r\n",
        check.method, check.path
    );
    let (written, _) = stream.write_all(head.into_bytes()).await;
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
