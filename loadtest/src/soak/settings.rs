//! `tern-loadtest soak` flags.

use crate::args::Flags;
use crate::net::loopback_addr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub struct Settings {
    /// tern's listener.
    pub target: SocketAddr,
    /// Where the origin this command runs (and restarts) listens: tern's
    /// backend.
    pub origin: SocketAddr,
    pub tern_pid: u32,
    pub duration: Duration,
    /// Samples before this are warm-up; the verdict compares the first
    /// window after it with the last (`window`). By default a third of the
    /// run, at most 5 minutes: tern's heap settles over its first ~3 minutes
    /// of the soak's traffic (the lowest sample per minute rises ~6% and then
    /// stays), which a warm-up of one minute counted as growth.
    pub warmup: Duration,
    pub sample_every: Duration,
    pub restart_every: Duration,
    pub reload_every: Duration,
    pub longpolls: usize,
    pub websockets: usize,
    pub slowloris: usize,
    pub abandoners: usize,
    /// Clients of each request kind: keep-alive GET, new-connection GET,
    /// chunked POST.
    pub clients: usize,
    /// Requests per second of each such client.
    pub rate: f64,
    /// tern's `client_header` timeout: a slowloris connection must be cut
    /// within it (plus slack).
    pub header_timeout: Duration,
    pub origin_pid_file: Option<PathBuf>,
    /// tern's admin endpoint: its pool and allocator figures are printed
    /// with each sample.
    pub admin: Option<SocketAddr>,
}

const OPTIONS: &[&str] = &[
    "target",
    "origin",
    "tern-pid",
    "seconds",
    "warmup",
    "sample-every",
    "restart-every",
    "reload-every",
    "longpolls",
    "websockets",
    "slowloris",
    "abandoners",
    "clients",
    "rate",
    "header-timeout",
    "origin-pid-file",
    "admin",
];

impl Settings {
    /// One cycle of disruptions (an origin restart and the reloads within
    /// it), at most half the time after warm-up: the verdict compares the
    /// lowest sample of the first such window with that of the last.
    pub fn window(&self) -> Duration {
        let watched = self.duration.saturating_sub(self.warmup);
        self.restart_every
            .max(self.reload_every)
            .min(watched / 2)
            .max(self.sample_every)
    }

    pub fn parse(args: &[String]) -> Result<Settings, String> {
        let f = Flags::parse(args, &[], OPTIONS)?;
        let secs =
            |name, default, lo, hi| f.number(name, default, lo, hi).map(Duration::from_secs_f64);
        let duration = secs("seconds", 600.0, 10.0, 86_400.0)?;
        let warmup_default = (duration.as_secs_f64() / 3.0).min(300.0);
        Ok(Settings {
            target: loopback_addr(&f.required::<String>("target")?)?,
            origin: loopback_addr(&f.required::<String>("origin")?)?,
            tern_pid: f.required("tern-pid")?,
            duration,
            warmup: secs("warmup", warmup_default, 0.0, duration.as_secs_f64())?,
            sample_every: secs("sample-every", 10.0, 1.0, 3600.0)?,
            restart_every: secs("restart-every", 60.0, 5.0, 86_400.0)?,
            reload_every: secs("reload-every", 30.0, 5.0, 86_400.0)?,
            longpolls: f.get("longpolls", 1000)?,
            websockets: f.get("websockets", 200)?,
            slowloris: f.get("slowloris", 50)?,
            abandoners: f.get("abandoners", 50)?,
            clients: f.get("clients", 4)?,
            rate: f.number("rate", 25.0, 0.1, 10_000.0)?,
            header_timeout: secs("header-timeout", 5.0, 1.0, 600.0)?,
            origin_pid_file: f.str("origin-pid-file").map(PathBuf::from),
            admin: f.str("admin").map(loopback_addr).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Settings {
        let args: Vec<String> = ["--target", "127.0.0.1:1", "--origin", "127.0.0.1:2"]
            .iter()
            .chain(["--tern-pid", "1"].iter())
            .chain(extra)
            .map(|a| a.to_string())
            .collect();
        Settings::parse(&args).expect("settings")
    }

    #[test]
    fn the_warm_up_is_a_third_of_the_run_at_most_five_minutes() {
        let ten_minutes = parse(&["--seconds", "600"]);
        assert_eq!(ten_minutes.warmup, Duration::from_secs(200));
        assert_eq!(ten_minutes.window(), Duration::from_secs(60));
        let two_minutes = parse(&["--seconds", "120"]);
        assert_eq!(two_minutes.warmup, Duration::from_secs(40));
        let an_hour = parse(&["--seconds", "3600"]);
        assert_eq!(an_hour.warmup, Duration::from_secs(300));
        let asked = parse(&["--seconds", "600", "--warmup", "30"]);
        assert_eq!(asked.warmup, Duration::from_secs(30));
    }
}
