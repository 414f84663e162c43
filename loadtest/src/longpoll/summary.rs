//! Gathering the children's reports and the proxy samples into the final
//! report.

use super::settings::Settings;
use crate::procstat::{self, Sockstat};
use crate::report::{latency_histogram, Report};
use crate::tally::{parse_words, Errors};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Everything one child said.
#[derive(Default)]
pub struct ChildReport {
    pub ready: Option<BTreeMap<String, u64>>,
    pub latencies_us: Vec<u64>,
    pub done: Option<BTreeMap<String, u64>>,
    pub exited: bool,
}

impl ChildReport {
    pub fn absorb_line(&mut self, line: Option<String>) {
        let Some(line) = line else {
            self.exited = true;
            return;
        };
        let (tag, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match tag {
            "ready" => self.ready = Some(parse_words(rest)),
            "lat" => self.latencies_us.extend(
                rest.split_whitespace()
                    .filter_map(|v| v.parse::<u64>().ok()),
            ),
            "done" => self.done = Some(parse_words(rest)),
            _ => eprintln!("longpoll: unexpected worker output: {line}"),
        }
    }
}

/// Proxy memory and kernel socket figures at one moment.
#[derive(Default, Clone, Copy)]
pub struct Sample {
    pub rss_kib: Option<u64>,
    pub sockstat: Option<Sockstat>,
}

impl Sample {
    pub fn take(pids: &[u32]) -> Sample {
        let rss_kib = (!pids.is_empty())
            .then(|| procstat::sum_vmrss_kib(pids))
            .and_then(|r| r.map_err(|e| eprintln!("longpoll: {e}")).ok());
        let sockstat = procstat::sockstat()
            .map_err(|e| eprintln!("longpoll: {e}"))
            .ok();
        Sample { rss_kib, sockstat }
    }
}

pub struct Summary {
    target: String,
    publish: String,
    channel: String,
    connections: usize,
    processes: usize,
    sources: usize,
    pub before: Sample,
    pub load: Sample,
    pub ramp: Duration,
    pub origin_released: Option<u64>,
    pub publish_error: Option<String>,
    pub expired: bool,
    attempted: u64,
    established: u64,
    errors: Errors,
    latency: Histogram<u64>,
}

impl Summary {
    pub fn new(s: &Settings) -> Summary {
        Summary {
            target: s.target.to_string(),
            publish: s.publish.to_string(),
            channel: s.channel.clone(),
            connections: s.connections,
            processes: s.processes,
            sources: s.sources,
            before: Sample::default(),
            load: Sample::default(),
            ramp: Duration::ZERO,
            origin_released: None,
            publish_error: None,
            expired: false,
            attempted: 0,
            established: 0,
            errors: Errors::default(),
            latency: latency_histogram(),
        }
    }

    pub fn absorb(&mut self, reports: &[ChildReport]) {
        for r in reports {
            let ready = r.ready.clone().unwrap_or_default();
            let established = ready.get("established").copied().unwrap_or(0);
            self.attempted += ready.get("attempted").copied().unwrap_or(0);
            self.established += established;
            match &r.done {
                Some(done) => done.iter().for_each(|(k, v)| self.errors.add_n(k, *v)),
                // The child died or never reported: its connections' fate
                // is unknown, which is an error for each of them.
                None => self.errors.add_n("worker_lost", established.max(1)),
            }
            for &us in &r.latencies_us {
                self.latency.saturating_record(us.max(1));
            }
        }
    }

    pub fn report(&self) -> Report {
        let mut r = Report::new();
        r.text("target", &self.target);
        r.text("publish", &self.publish);
        r.text("channel", &self.channel);
        r.num("connections", self.connections);
        r.num("processes", self.processes);
        r.num("sources", self.sources);
        r.num("attempted", self.attempted);
        r.num("established", self.established);
        r.num("errors", self.errors.total());
        for (kind, n) in self.errors.entries() {
            r.num(&format!("errors_{kind}"), n);
        }
        r.num("released", self.latency.len());
        r.opt("origin_released", self.origin_released);
        r.float("ramp_ms", self.ramp.as_secs_f64() * 1000.0, 0);
        r.latency("delivery", &self.latency);
        self.memory(&mut r);
        r.num("expired", u8::from(self.expired));
        if let Some(e) = &self.publish_error {
            r.text("publish_error", e);
        }
        r
    }

    fn memory(&self, r: &mut Report) {
        let (before, load) = (self.before.rss_kib, self.load.rss_kib);
        r.opt("proxy_rss_before_kib", before);
        r.opt("proxy_rss_load_kib", load);
        let per_conn = match (before, load, self.established) {
            (Some(b), Some(l), n) if n > 0 => (l as f64 - b as f64) * 1024.0 / n as f64,
            _ => f64::NAN,
        };
        r.float("proxy_bytes_per_conn", per_conn, 0);
        for (when, s) in [
            ("before", self.before.sockstat),
            ("load", self.load.sockstat),
        ] {
            r.opt(&format!("tcp_inuse_{when}"), s.map(|s| s.tcp_inuse));
            r.opt(&format!("tcp_mem_pages_{when}"), s.map(|s| s.tcp_mem_pages));
        }
    }
}
