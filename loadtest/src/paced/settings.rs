//! The `paced` command line.

use crate::args::Flags;
use crate::net::loopback_addr;
use std::net::SocketAddr;

pub struct Settings {
    pub target: SocketAddr,
    /// Requests per second over all connections.
    pub rate: f64,
    pub seconds: f64,
    pub connections: usize,
    pub threads: usize,
    pub path: String,
    /// With a body of this many bytes, each request is a POST (0: a GET).
    pub post_bytes: usize,
    /// The longest a response may take before the connection is dropped.
    pub timeout: f64,
    pub json: bool,
}

const OPTIONS: &[&str] = &[
    "target",
    "rate",
    "seconds",
    "connections",
    "threads",
    "path",
    "post-bytes",
    "timeout",
];

impl Settings {
    pub fn parse(args: &[String]) -> Result<Settings, String> {
        let f = Flags::parse(args, &["json"], OPTIONS)?;
        let s = Settings {
            target: loopback_addr(&f.required::<String>("target")?)?,
            rate: f.number("rate", 1000.0, 0.1, 1e7)?,
            seconds: f.number("seconds", 5.0, 0.001, 3600.0)?,
            connections: f.get("connections", 64)?,
            threads: f.get("threads", 1)?,
            path: f.get("path", "/".to_string())?,
            post_bytes: f.get("post-bytes", 0)?,
            timeout: f.number("timeout", 10.0, 0.001, 3600.0)?,
            json: f.has("json"),
        };
        if !(1..=10_000).contains(&s.connections) || !(1..=64).contains(&s.threads) {
            return Err("--connections must be 1..=10000 and --threads 1..=64".into());
        }
        if s.threads > s.connections {
            return Err("--threads must not exceed --connections".into());
        }
        if s.post_bytes > 1 << 20 {
            return Err("--post-bytes must be at most 1048576".into());
        }
        if !s.path.starts_with('/') || s.path.bytes().any(|b| b <= b' ') {
            return Err("--path must start with / and hold no spaces".into());
        }
        Ok(s)
    }
}
