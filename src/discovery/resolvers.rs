//! Which DNS servers to ask: `[server] resolvers`, else the nameservers of
//! /etc/resolv.conf, else 127.0.0.1:53 (as the C library does).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const RESOLV_CONF: &str = "/etc/resolv.conf";

/// `"10.0.0.2"` or `"10.0.0.2:8600"` / `"[::1]:53"`; port 53 by default.
pub fn parse(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{text:?} is not an IP address (\"ip\" or \"ip:port\")"))
}

/// The nameservers of /etc/resolv.conf.
pub fn system() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string(RESOLV_CONF).unwrap_or_default();
    let found = from_resolv_conf(&text);
    match found.is_empty() {
        true => vec![SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 53)],
        false => found,
    }
}

fn from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next())
        // A scoped IPv6 address (`fe80::1%eth0`) is not usable as written.
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nameservers() {
        let text = "# x\nsearch a.b\nnameserver 10.0.0.2\nnameserver ::1\noptions ndots:5\n";
        let got = from_resolv_conf(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], "10.0.0.2:53".parse().unwrap());
        assert_eq!(parse("127.0.0.1:8600").unwrap().port(), 8600);
        assert_eq!(parse("::1").unwrap().port(), 53);
        assert!(parse("dns.example").is_err());
    }
}
