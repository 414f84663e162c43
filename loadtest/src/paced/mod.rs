//! `tern-loadtest paced`: keep-alive requests at a fixed rate, each timed
//! from the moment it was due.
//!
//! wrk runs a closed loop: each connection sends its next request when the
//! previous answer arrives, so a faster server is offered more load and its
//! latency is measured at a different operating point than a slower one's.
//! Here the offered load is fixed (open loop, like wrk2): request g is due
//! at `start + g / rate` on connection `g mod C`; when an answer comes late
//! the next request on that connection goes out at once and its wait counts
//! from its slot, so a server that falls behind pays for the queue it built
//! (no coordinated omission). The client's own delay (its timer ticks every
//! millisecond) is taken out and shown apart as `client_lag`; `service` is
//! the same requests timed from when they were sent, as wrk times them.

mod connection;
mod schedule;
mod settings;
mod tally;

use crate::report::Report;
use connection::Plan;
use schedule::Schedule;
use settings::Settings;
use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally::Tally;

/// The one request every slot sends: a GET, or a POST of `post_bytes`.
fn request(s: &Settings) -> Vec<u8> {
    let (path, host) = (&s.path, s.target);
    if s.post_bytes == 0 {
        return format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tern-loadtest\r\n\r\n")
            .into_bytes();
    }
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tern-loadtest\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        s.post_bytes
    )
    .into_bytes();
    request.resize(request.len() + s.post_bytes, b'b');
    request
}

/// Time for the connections to open before the first slot: this, and
/// `LEAD_PER_CONNECTION` more for each. With 200 ms alone, 9,000
/// connections were not all open at their first slots, which then waited:
/// p99 47–56 ms straight to the origin at 3,000/s, 0.18 ms with a 1 s lead.
const CONNECT_LEAD: Duration = Duration::from_millis(200);
const LEAD_PER_CONNECTION: Duration = Duration::from_micros(100);

pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let s = Settings::parse(args)?;
    let request = request(&s);
    let start = Instant::now() + connect_lead(s.connections);
    let schedule = Schedule::new(start, s.rate, s.seconds, s.connections);
    let timeout = Duration::from_secs_f64(s.timeout);
    let plan = Arc::new(Plan {
        target: s.target,
        give_up_at: start + Duration::from_secs_f64(s.seconds) + timeout,
        schedule,
        // One small allocation for the process's life, shared by every write.
        request: Box::leak(request.into_boxed_slice()),
        timeout,
    });
    let threads: Vec<_> = (0..s.threads)
        .map(|t| {
            let plan = plan.clone();
            let conns: Vec<usize> = (t..s.connections).step_by(s.threads).collect();
            std::thread::spawn(move || client_thread(&plan, conns))
        })
        .collect();
    let mut all = Tally::default();
    for thread in threads {
        let one = thread
            .join()
            .map_err(|_| "a client thread panicked".to_string())??;
        all.merge(&one)?;
    }
    let elapsed = Instant::now().saturating_duration_since(start);
    let report = report(&s, &plan.schedule, &all, elapsed.as_secs_f64());
    if s.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    Ok(ExitCode::SUCCESS)
}

/// How long before the first slot the connections start opening.
fn connect_lead(connections: usize) -> Duration {
    let each = u32::try_from(connections).unwrap_or(u32::MAX);
    CONNECT_LEAD.saturating_add(LEAD_PER_CONNECTION.saturating_mul(each))
}

/// One runtime driving `conns`, each connection a task.
fn client_thread(plan: &Arc<Plan>, conns: Vec<usize>) -> Result<Tally, String> {
    let tally = Rc::new(RefCell::new(Tally::default()));
    crate::runtime::block_on(async {
        let tasks: Vec<_> = conns
            .into_iter()
            .map(|conn| {
                let (plan, tally) = (plan.clone(), tally.clone());
                monoio::spawn(async move { connection::run(&plan, conn, &tally).await })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    })
    .map_err(|e| format!("starting a runtime: {e}"))?;
    Ok(Rc::try_unwrap(tally)
        .map_err(|_| "a connection task outlived its thread".to_string())?
        .into_inner())
}

fn report(s: &Settings, schedule: &Schedule, all: &Tally, elapsed: f64) -> Report {
    let mut r = Report::new();
    r.text("target", &s.target.to_string());
    r.text("path", &s.path);
    r.num("connections", s.connections);
    r.float("rate", s.rate, 1);
    r.num("offered", schedule.slots());
    r.num("completed", all.latency.len());
    r.num("errors", all.errors.total());
    r.text("error_kinds", &all.errors.to_words());
    r.float(
        "achieved_rate",
        all.latency.len() as f64 / elapsed.max(1e-9),
        1,
    );
    r.latency("latency", &all.latency);
    r.latency("service", &all.service);
    r.latency("client_lag", &all.client_lag);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lead_grows_with_the_connections_to_open() {
        assert_eq!(connect_lead(64), Duration::from_micros(206_400));
        assert!(connect_lead(9000) >= Duration::from_secs(1));
    }
}
