//! `tern-loadtest longpoll`: hold N long-polls through a proxy, publish
//! once, and measure how fast the proxy fans the message out, plus what
//! each held connection costs it in memory.
//!
//! The parent only coordinates; connections live in child processes
//! (`worker`), so the client side is never the 20k-files bottleneck.

mod children;
mod publish;
mod settings;
mod summary;
mod worker;

pub use worker::run as run_worker;

use children::Children;
use settings::Settings;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use summary::{ChildReport, Sample, Summary};

/// What every subscriber must receive; checked byte for byte.
pub const MESSAGE: &str = "tern-loadtest delivery";

/// Children share the parent's deadline; this is how long the parent
/// waits past it for their final reports before killing them.
const REPORT_GRACE: Duration = Duration::from_secs(5);

pub fn run(args: &[String]) -> Result<ExitCode, String> {
    let s = Settings::parse(args)?;
    crate::net::raise_nofile().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs_f64(s.max_seconds);
    let mut summary = Summary::new(&s);
    summary.before = Sample::take(&s.proxy_pids);

    let start = Instant::now();
    let mut children = Children::spawn(s.child_args())?;
    let mut reports: Vec<ChildReport> = (0..s.processes).map(|_| ChildReport::default()).collect();
    let all_ready = collect(&children, &mut reports, deadline, |r| r.ready.is_some());
    summary.ramp = start.elapsed();

    if all_ready {
        std::thread::sleep(Duration::from_secs_f64(s.settle).min(remaining(deadline)));
        summary.load = Sample::take(&s.proxy_pids);
        match publish::publish(s.publish, &s.channel, MESSAGE, remaining(deadline)) {
            Ok(p) => {
                summary.origin_released = p.released;
                children.tell_all(&format!("publish {}", p.sent_ns));
            }
            Err(e) => {
                eprintln!("longpoll: {e}");
                summary.publish_error = Some(e);
                children.tell_all("abort");
            }
        }
    } else {
        children.tell_all("abort");
    }
    let all_done = collect(&children, &mut reports, deadline + REPORT_GRACE, |r| {
        r.exited
    });
    children.reap();
    summary.expired = !all_ready || !all_done || Instant::now() > deadline;
    summary.absorb(&reports);

    let report = summary.report();
    if s.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    Ok(if summary.expired {
        eprintln!(
            "longpoll: --max-seconds {} expired before the run completed",
            s.max_seconds
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Reads child lines until `enough` holds for every child (or it exited);
/// returns false if the deadline came first.
fn collect(
    children: &Children,
    reports: &mut [ChildReport],
    deadline: Instant,
    enough: impl Fn(&ChildReport) -> bool,
) -> bool {
    while !reports.iter().all(|r| enough(r) || r.exited) {
        let Some((i, line)) = children.next_line(deadline) else {
            return false;
        };
        reports[i].absorb_line(line);
    }
    true
}
