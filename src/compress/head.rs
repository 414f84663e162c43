//! What compression changes in a response head: `Content-Encoding`, `Vary:
//! Accept-Encoding`, a strong ETag made weak (the compressed bytes are not
//! the same representation, RFC 9110 §8.8.3), and the framing, which the
//! callers re-derive (chunked to HTTP/1.1 clients, close to HTTP/1.0 ones).

use super::policy::Coding;

/// A head change on a compressing route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The body is compressed with this coding (else only `Vary` is added:
    /// another client would have had it compressed).
    pub coding: Option<Coding>,
    /// `Vary: Accept-Encoding` is added.
    pub vary: bool,
}

impl Change {
    /// `eligible`: the response would be compressed for a client taking a
    /// coding; `varies`: it already says `Vary: Accept-Encoding`.
    pub fn new(eligible: bool, coding: Option<Coding>, varies: bool) -> Option<Change> {
        let change = Change {
            coding: coding.filter(|_| eligible),
            vary: eligible && !varies,
        };
        (change.coding.is_some() || change.vary).then_some(change)
    }

    /// The value an `ETag` field takes: strong tags are weakened when the
    /// body is compressed. `None`: unchanged.
    pub fn etag(&self, value: &[u8]) -> Option<Vec<u8>> {
        if self.coding.is_none() || !value.trim_ascii_start().starts_with(b"\"") {
            return None;
        }
        let mut weak = Vec::with_capacity(value.len() + 2);
        weak.extend_from_slice(b"W/");
        weak.extend_from_slice(value.trim_ascii_start());
        Some(weak)
    }

    /// Fields added after the response's own.
    pub fn append(&self, out: &mut Vec<u8>) {
        if let Some(coding) = self.coding {
            out.extend_from_slice(b"Content-Encoding: ");
            out.extend_from_slice(coding.token().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if self.vary {
            out.extend_from_slice(b"Vary: Accept-Encoding\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_etags_are_weakened_weak_ones_kept() {
        let change = Change::new(true, Some(Coding::Br), false).expect("change");
        assert_eq!(change.etag(b"\"abc\"").as_deref(), Some(&b"W/\"abc\""[..]));
        assert_eq!(change.etag(b"W/\"abc\""), None);
        let vary_only = Change::new(true, None, false).expect("vary");
        assert_eq!(vary_only.etag(b"\"abc\""), None);
    }

    #[test]
    fn nothing_to_do_is_none() {
        assert_eq!(Change::new(false, Some(Coding::Gzip), false), None);
        assert_eq!(Change::new(true, None, true), None);
        let mut out = Vec::new();
        Change::new(true, Some(Coding::Gzip), true)
            .expect("change")
            .append(&mut out);
        assert_eq!(out, b"Content-Encoding: gzip\r\n");
    }
}
