//! /etc/hosts, read before DNS for a name (as the C library's default
//! `hosts: files dns` does), so a backend named there keeps working as it
//! did when names were resolved once with the system's resolver. Read
//! again on every lookup: an edit is picked up like a DNS change.

use std::net::{IpAddr, SocketAddr};

use super::Target;

const HOSTS: &str = "/etc/hosts";

/// The addresses /etc/hosts gives `name` (empty if none).
pub fn lookup(name: &str) -> Vec<Target> {
    let text = std::fs::read_to_string(HOSTS).unwrap_or_default();
    find(&text, name)
}

fn find(text: &str, name: &str) -> Vec<Target> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(Ok(ip)) = fields.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        if fields.any(|alias| alias.eq_ignore_ascii_case(name)) {
            found.push(Target::at(SocketAddr::new(ip, 0), name));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn finds_every_address_of_a_name() {
        let text =
            "127.0.0.1 localhost\n10.0.0.5 db db.internal # x\n::1 db.internal\n# 10.0.0.9 db\n";
        let got: Vec<_> = find(text, "DB.internal")
            .iter()
            .map(|t| t.addr.ip())
            .collect();
        assert_eq!(
            got,
            [
                "10.0.0.5".parse::<std::net::IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(find(text, "web").is_empty());
    }
}
