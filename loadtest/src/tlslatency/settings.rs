//! The `tls-latency` command line.

use crate::args::Flags;
use crate::net::loopback_addr;
use std::net::SocketAddr;

pub struct Settings {
    pub target: SocketAddr,
    /// New connections per second.
    pub rate: f64,
    pub seconds: f64,
    /// A full handshake every time instead of resuming.
    pub full: bool,
    pub threads: usize,
    pub path: String,
    pub server_name: String,
    pub json: bool,
}

const OPTIONS: &[&str] = &[
    "target",
    "rate",
    "seconds",
    "threads",
    "path",
    "server-name",
];

impl Settings {
    pub fn parse(args: &[String]) -> Result<Settings, String> {
        let f = Flags::parse(args, &["full", "json"], OPTIONS)?;
        let s = Settings {
            target: loopback_addr(&f.required::<String>("target")?)?,
            rate: f.number("rate", 200.0, 0.1, 100_000.0)?,
            seconds: f.number("seconds", 5.0, 0.001, 3600.0)?,
            full: f.has("full"),
            threads: f.get("threads", 16)?,
            path: f.get("path", "/".to_string())?,
            server_name: f.get("server-name", "localhost".to_string())?,
            json: f.has("json"),
        };
        if !(1..=1024).contains(&s.threads) {
            return Err("--threads must be 1..=1024".into());
        }
        if !s.path.starts_with('/') || s.path.bytes().any(|b| b <= b' ') {
            return Err("--path must start with / and hold no spaces".into());
        }
        Ok(s)
    }
}
