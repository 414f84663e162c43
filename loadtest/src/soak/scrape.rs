//! tern's own memory figures from its admin endpoint's `/metrics`, printed
//! next to RSS so that a growth can be read: buffers its pools keep, and
//! what the allocator has handed out (`in_use`) or keeps freed (`free`).
//! RSS that grows with `in_use` flat is memory freed but kept, not a leak.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The admin endpoint answers at once; anything slower is a broken sample.
const WAIT: Duration = Duration::from_secs(2);
/// A scrape larger than this is not tern's /metrics.
const MAX_BYTES: u64 = 4 << 20;

/// Bytes, summed over workers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Memory {
    pub pooled: u64,
    pub heap_in_use: u64,
    pub heap_free: u64,
    /// Times tern gave freed memory back after a burst, and the time that
    /// took in all.
    pub trims: u64,
    pub trim_seconds: f64,
}

/// One scrape (a blocking GET: once per sample, on loopback).
pub fn memory(admin: SocketAddr) -> Result<Memory, String> {
    let text = get_metrics(admin).map_err(|e| format!("scraping {admin}/metrics: {e}"))?;
    Ok(parse(&text))
}

fn get_metrics(admin: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&admin, WAIT)?;
    stream.set_read_timeout(Some(WAIT))?;
    stream.set_write_timeout(Some(WAIT))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut text = String::new();
    stream.take(MAX_BYTES).read_to_string(&mut text)?;
    Ok(text)
}

/// Sums the series it knows; the rest of the text is ignored.
pub fn parse(text: &str) -> Memory {
    let mut m = Memory::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if series == "tern_allocator_trim_seconds_total" {
            m.trim_seconds = value.parse().unwrap_or(0.0);
        }
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        if series.starts_with("tern_buffer_pool_buffers{") {
            m.pooled += value * label(series, "size").unwrap_or(0);
        } else if series == "tern_allocator_bytes{state=\"in_use\"}" {
            m.heap_in_use = value;
        } else if series == "tern_allocator_bytes{state=\"free\"}" {
            m.heap_free = value;
        } else if series == "tern_allocator_trims_total" {
            m.trims = value;
        }
    }
    m
}

fn label(series: &str, name: &str) -> Option<u64> {
    let start = series.find(&format!("{name}=\""))? + name.len() + 2;
    let end = start + series[start..].find('"')?;
    series[start..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_pools_over_workers_and_reads_the_heap() {
        let text = "# TYPE tern_buffer_pool_buffers gauge\n\
            tern_buffer_pool_buffers{worker=\"0\",size=\"16384\"} 2\n\
            tern_buffer_pool_buffers{worker=\"1\",size=\"131072\"} 1\n\
            tern_allocator_bytes{state=\"in_use\"} 1000\n\
            tern_allocator_bytes{state=\"free\"} 500\n\
            tern_allocator_trims_total 3\n\
            tern_allocator_trim_seconds_total 0.001500\n\
            tern_connections{worker=\"0\",state=\"idle\"} 7\n";
        assert_eq!(
            parse(text),
            Memory {
                pooled: 2 * 16384 + 131072,
                heap_in_use: 1000,
                heap_free: 500,
                trims: 3,
                trim_seconds: 0.0015,
            }
        );
    }
}
