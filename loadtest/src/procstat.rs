//! Reading memory figures from /proc: a process's resident set and the
//! kernel's socket accounting.

use std::fs;

/// VmRSS of one process in KiB. Threads share their process's address
/// space, so one reading per process covers all its threads.
pub fn vmrss_kib(pid: u32) -> Result<u64, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    parse_vmrss(&status).ok_or(format!("no VmRSS for pid {pid}"))
}

/// Summed VmRSS of several processes (e.g. a proxy's worker processes).
pub fn sum_vmrss_kib(pids: &[u32]) -> Result<u64, String> {
    pids.iter().map(|&p| vmrss_kib(p)).sum()
}

/// RssFile of one process in KiB: pages of its binary and other mapped
/// files (the rest of VmRSS is anonymous memory, the heap among it).
pub fn rss_file_kib(pid: u32) -> Result<u64, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    status_kib(&status, "RssFile:").ok_or(format!("no RssFile for pid {pid}"))
}

fn parse_vmrss(status: &str) -> Option<u64> {
    status_kib(status, "VmRSS:")
}

fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The TCP line of /proc/net/sockstat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sockstat {
    pub tcp_inuse: u64,
    pub tcp_orphan: u64,
    pub tcp_tw: u64,
    pub tcp_alloc: u64,
    /// Pages of socket buffer memory, system wide (not per process).
    pub tcp_mem_pages: u64,
}

pub fn sockstat() -> Result<Sockstat, String> {
    let text = fs::read_to_string("/proc/net/sockstat")
        .map_err(|e| format!("cannot read /proc/net/sockstat: {e}"))?;
    parse_sockstat(&text).ok_or("no TCP line in /proc/net/sockstat".to_string())
}

fn parse_sockstat(text: &str) -> Option<Sockstat> {
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let words: Vec<&str> = line.split_whitespace().skip(1).collect();
    let mut s = Sockstat::default();
    for pair in words.chunks(2) {
        let [key, value] = pair else { continue };
        let value: u64 = value.parse().ok()?;
        match *key {
            "inuse" => s.tcp_inuse = value,
            "orphan" => s.tcp_orphan = value,
            "tw" => s.tcp_tw = value,
            "alloc" => s.tcp_alloc = value,
            "mem" => s.tcp_mem_pages = value,
            _ => {}
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_sockstat() {
        let status = "Name:\ttern\nVmPeak:\t  9000 kB\nVmRSS:\t    4242 kB\nRssFile:\t 1000 kB\nThreads:\t2\n";
        assert_eq!(parse_vmrss(status), Some(4242));
        assert_eq!(status_kib(status, "RssFile:"), Some(1000));
        let sock =
            "sockets: used 300\nTCP: inuse 12 orphan 1 tw 3 alloc 15 mem 7\nUDP: inuse 2 mem 1\n";
        let s = parse_sockstat(sock).unwrap();
        assert_eq!(
            (
                s.tcp_inuse,
                s.tcp_orphan,
                s.tcp_tw,
                s.tcp_alloc,
                s.tcp_mem_pages
            ),
            (12, 1, 3, 15, 7)
        );
    }

    #[test]
    fn reads_own_rss() {
        assert!(vmrss_kib(std::process::id()).unwrap() > 0);
        assert!(sockstat().is_ok());
    }
}
