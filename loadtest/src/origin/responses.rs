//! Response heads, and the fixed responses built once at startup so the
//! hot path (`/healthz`, the default body) is a single memcpy into the
//! output buffer.

use crate::http::RequestInfo;

/// How the connection continues after this response; decides the
/// `Connection` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    KeepAlive,
    /// HTTP/1.0 keep-alive must be confirmed explicitly.
    KeepAlive10,
    Close,
}

impl Persist {
    pub fn of(info: &RequestInfo) -> Persist {
        match (info.keep_alive, info.http10) {
            (false, _) => Persist::Close,
            (true, false) => Persist::KeepAlive,
            (true, true) => Persist::KeepAlive10,
        }
    }

    fn header(self) -> &'static str {
        match self {
            Persist::KeepAlive => "",
            Persist::KeepAlive10 => "Connection: keep-alive\r\n",
            Persist::Close => "Connection: close\r\n",
        }
    }

    const ALL: [Persist; 3] = [Persist::KeepAlive, Persist::KeepAlive10, Persist::Close];
}

pub enum Length {
    Bytes(u64),
    Chunked,
    /// 204 and 1xx responses carry no length at all (RFC 9110 §8.6).
    None,
}

/// Appends a status line and headers. `status` is e.g. `"200 OK"`.
pub fn head(out: &mut Vec<u8>, status: &str, length: Length, persist: Persist) {
    let length = match length {
        Length::Bytes(n) => format!("Content-Length: {n}\r\n"),
        Length::Chunked => "Transfer-Encoding: chunked\r\n".to_string(),
        Length::None => String::new(),
    };
    let conn = persist.header();
    out.extend_from_slice(
        format!("HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n{length}{conn}\r\n").as_bytes(),
    );
}

/// A whole response with a short body, e.g. `400` with a reason.
pub fn simple(out: &mut Vec<u8>, status: &str, body: &str, persist: Persist) {
    head(out, status, Length::Bytes(body.len() as u64), persist);
    out.extend_from_slice(body.as_bytes());
}

/// Filler for generated bodies; any length is a prefix of repeats of it.
pub static FILL: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// A precomputed response; a HEAD answer is the prefix up to `head_len`.
pub struct Fixed {
    bytes: Vec<u8>,
    head_len: usize,
}

impl Fixed {
    pub fn bytes(&self, head_only: bool) -> &[u8] {
        if head_only {
            &self.bytes[..self.head_len]
        } else {
            &self.bytes
        }
    }
}

/// One fixed response per `Persist` variant.
pub struct FixedSet([Fixed; 3]);

impl FixedSet {
    pub fn new(body: &[u8]) -> FixedSet {
        FixedSet(Persist::ALL.map(|p| {
            let mut bytes = Vec::new();
            head(&mut bytes, "200 OK", Length::Bytes(body.len() as u64), p);
            let head_len = bytes.len();
            bytes.extend_from_slice(body);
            Fixed { bytes, head_len }
        }))
    }

    pub fn get(&self, persist: Persist) -> &Fixed {
        &self.0[persist as usize]
    }
}

/// Shared, read-only origin settings.
pub struct Config {
    pub healthz: FixedSet,
    pub default: FixedSet,
}

impl Config {
    pub fn new(body_size: usize) -> Config {
        let body: Vec<u8> = FILL.iter().copied().cycle().take(body_size).collect();
        Config {
            healthz: FixedSet::new(b"ok"),
            default: FixedSet::new(&body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_responses() {
        let c = Config::new(3);
        let full = c.default.get(Persist::Close).bytes(false);
        assert_eq!(
            full,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxxx"
        );
        let head = c.healthz.get(Persist::KeepAlive).bytes(true);
        assert!(head.ends_with(b"Content-Length: 2\r\n\r\n"));
    }
}
