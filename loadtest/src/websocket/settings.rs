//! The `websocket` command line.

use crate::args::Flags;
use crate::net::loopback_addr;
use std::net::SocketAddr;

pub struct Settings {
    pub target: SocketAddr,
    pub connections: usize,
    pub rate: f64,
    pub duration: f64,
    pub size: usize,
    pub path: String,
    pub ramp: f64,
    pub sources: usize,
    pub max_seconds: f64,
    pub json: bool,
}

const OPTIONS: &[&str] = &[
    "target",
    "connections",
    "rate",
    "duration",
    "size",
    "path",
    "ramp",
    "sources",
    "max-seconds",
];

impl Settings {
    pub fn parse(args: &[String]) -> Result<Settings, String> {
        let f = Flags::parse(args, &["json"], OPTIONS)?;
        let connections: usize = f.required("connections")?;
        let ramp = f.number("ramp", 2000.0, 0.001, 1e7)?;
        let duration = f.number("duration", 10.0, 0.0, 86_400.0)?;
        // By default: time to ramp, the window, and a minute of slack.
        let default_max = connections as f64 / ramp.max(1.0) + duration + 60.0;
        let s = Settings {
            target: loopback_addr(&f.required::<String>("target")?)?,
            connections,
            rate: f.number("rate", 1.0, 0.001, 1e6)?,
            duration,
            size: f.get("size", 32)?,
            path: f.get("path", "/ws".to_string())?,
            ramp,
            sources: f.get("sources", 1)?,
            max_seconds: f.number("max-seconds", default_max, 0.001, 864_000.0)?,
            json: f.has("json"),
        };
        if s.connections == 0 || !(1..=254).contains(&s.sources) {
            return Err("--connections must be positive and --sources 1..=254".into());
        }
        if !s.path.starts_with('/') || s.size > 1 << 20 {
            return Err("--path must start with / and --size be at most 1 MiB".into());
        }
        Ok(s)
    }
}
