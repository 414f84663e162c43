//! Error counts by kind, shared by the load generators and carried from
//! long-poll child processes to their parent as `kind=count` words.

use std::collections::BTreeMap;
use std::io;

/// Kinds always reported (as 0 if none), so scripts see stable JSON keys.
pub const STANDARD_KINDS: &[&str] = &["connect", "status", "timeout", "reset", "io", "protocol"];

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Errors(BTreeMap<String, u64>);

impl Errors {
    pub fn add(&mut self, kind: &str) {
        self.add_n(kind, 1);
    }

    pub fn add_n(&mut self, kind: &str, n: u64) {
        if n > 0 {
            *self.0.entry(kind.to_string()).or_default() += n;
        }
    }

    pub fn get(&self, kind: &str) -> u64 {
        self.0.get(kind).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Standard kinds first (zeros included), then any others seen.
    pub fn entries(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = STANDARD_KINDS
            .iter()
            .map(|k| (k.to_string(), self.0.get(*k).copied().unwrap_or(0)))
            .collect();
        for (k, v) in &self.0 {
            if !STANDARD_KINDS.contains(&k.as_str()) {
                out.push((k.clone(), *v));
            }
        }
        out
    }

    /// `kind=n kind=n`, the child-to-parent wire form.
    pub fn to_words(&self) -> String {
        let words: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        words.join(" ")
    }
}

/// Names an I/O failure for the report. Resets and early EOFs are one kind:
/// either way the peer dropped a connection it should have kept.
pub fn io_kind(e: &io::Error) -> &'static str {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => "reset",
        TimedOut => "timeout",
        InvalidData => "protocol",
        _ => "io",
    }
}

/// Parses `key=value` words (the rest of a child's status line).
pub fn parse_words(words: &str) -> BTreeMap<String, u64> {
    words
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_round_trip() {
        let mut a = Errors::default();
        a.add("reset");
        a.add("weird");
        a.add_n("connect", 0);
        let mut b = Errors::default();
        b.add_n("reset", 2);
        for (k, v) in parse_words(&a.to_words()) {
            b.add_n(&k, v);
        }
        assert_eq!(b.total(), 4);
        let parsed = parse_words(&b.to_words());
        assert_eq!(parsed["reset"], 3);
        let e = b.entries();
        assert_eq!(e[0], ("connect".to_string(), 0));
        assert_eq!(e.last().unwrap(), &("weird".to_string(), 1));
    }

    #[test]
    fn io_kinds() {
        assert_eq!(io_kind(&io::ErrorKind::UnexpectedEof.into()), "reset");
        assert_eq!(io_kind(&io::ErrorKind::InvalidData.into()), "protocol");
        assert_eq!(io_kind(&io::ErrorKind::PermissionDenied.into()), "io");
    }
}
