//! The `longpoll` command line.

use crate::args::{parse_pids, Flags};
use crate::net::loopback_addr;
use std::net::SocketAddr;

pub struct Settings {
    pub target: SocketAddr,
    pub connections: usize,
    pub ramp: f64,
    pub channel: String,
    pub path_prefix: String,
    pub publish: SocketAddr,
    pub settle: f64,
    pub proxy_pids: Vec<u32>,
    pub sources: usize,
    pub processes: usize,
    pub max_seconds: f64,
    pub json: bool,
}

const OPTIONS: &[&str] = &[
    "target",
    "connections",
    "ramp",
    "channel",
    "path-prefix",
    "publish",
    "settle",
    "proxy-pid",
    "sources",
    "processes",
    "max-seconds",
];

impl Settings {
    pub fn parse(args: &[String]) -> Result<Settings, String> {
        let f = Flags::parse(args, &["json"], OPTIONS)?;
        let target_str: String = f.required("target")?;
        let target = loopback_addr(&target_str)?;
        let publish = match f.str("publish") {
            Some(p) => loopback_addr(p)?,
            None => target,
        };
        let connections: usize = f.required("connections")?;
        let s = Settings {
            target,
            connections,
            ramp: f.number("ramp", 2000.0, 0.001, 1e7)?,
            channel: f.get("channel", "loadtest".to_string())?,
            path_prefix: f.get("path-prefix", "/poll/".to_string())?,
            publish,
            settle: f.number("settle", 2.0, 0.0, 86_400.0)?,
            proxy_pids: f
                .str("proxy-pid")
                .map(parse_pids)
                .transpose()?
                .unwrap_or_default(),
            sources: f.get("sources", 1)?,
            processes: f.get("processes", 1)?,
            max_seconds: f.number("max-seconds", 120.0, 0.001, 864_000.0)?,
            json: f.has("json"),
        };
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), String> {
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if !(1..=254).contains(&self.sources) {
            return Err("--sources must be 1..=254 (127.0.0.1..127.0.0.K)".into());
        }
        if self.processes == 0 || self.processes > self.connections.min(256) {
            return Err("--processes must be 1..=min(connections, 256)".into());
        }
        if self.channel.is_empty()
            || self
                .channel
                .contains(|c: char| c.is_whitespace() || c == '?')
        {
            return Err("--channel must be a non-empty path segment".into());
        }
        Ok(())
    }

    /// Each child's arguments: its share of connections and of the ramp,
    /// and where its source-address rotation starts so that the children
    /// together cycle through the sources evenly.
    pub fn child_args(&self) -> Vec<Vec<String>> {
        let path = format!("{}{}?timeout=600", self.path_prefix, self.channel);
        let mut first = 0;
        (0..self.processes)
            .map(|p| {
                let share = self.connections / self.processes
                    + usize::from(p < self.connections % self.processes);
                let args = [
                    ("target", self.target.to_string()),
                    ("connections", share.to_string()),
                    ("ramp", (self.ramp / self.processes as f64).to_string()),
                    ("path", path.clone()),
                    ("sources", self.sources.to_string()),
                    ("first-index", first.to_string()),
                    ("max-seconds", self.max_seconds.to_string()),
                ];
                first += share;
                args.into_iter()
                    .flat_map(|(k, v)| [format!("--{k}"), v])
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Settings, String> {
        let argv: Vec<String> = s.split_whitespace().map(String::from).collect();
        Settings::parse(&argv)
    }

    #[test]
    fn shares_add_up() {
        let s = parse("--target 127.0.0.1:1 --connections 10 --processes 3 --sources 2").unwrap();
        let args = s.child_args();
        let shares: Vec<&str> = args.iter().map(|a| a[3].as_str()).collect();
        assert_eq!(shares, ["4", "3", "3"]);
        let firsts: Vec<&str> = args.iter().map(|a| a[11].as_str()).collect();
        assert_eq!(firsts, ["0", "4", "7"]);
        assert_eq!(args[0][7], "/poll/loadtest?timeout=600");
        assert_eq!(s.publish, s.target);
    }

    #[test]
    fn validates() {
        assert!(parse("--target 127.0.0.1:1 --connections 0").is_err());
        assert!(parse("--target 127.0.0.1:1 --connections 5 --processes 6").is_err());
        assert!(parse("--target 127.0.0.1:1 --connections 5 --sources 300").is_err());
        assert!(parse("--target 8.8.8.8:80 --connections 5").is_err());
        assert!(parse("--connections 5").is_err());
    }
}
