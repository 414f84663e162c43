//! Finding the end of a message head while proving its line endings clean.
//!
//! httparse accepts a bare LF as a line end. An upstream may not, so a head
//! forwarded byte for byte must contain CR only as part of CRLF and LF only
//! after CR (RFC 9112 §2.2). The scan checks that as it looks for the empty
//! line, so it costs one pass over the bytes.

use memchr::memchr2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// The head ends (after its empty line) at this offset.
    Complete { head_len: usize },
    /// No end yet; resume scanning at `resume_at` when more bytes arrive.
    Partial { resume_at: usize },
    /// A CR not followed by LF, or an LF not preceded by CR.
    BareLineEnding,
}

/// Where the head scan stands between reads.
#[derive(Debug, Default, Clone, Copy)]
pub struct HeadScanner {
    resume_at: usize,
    /// End of the first line (offset of its CR), once seen.
    pub first_line_end: Option<usize>,
}

impl HeadScanner {
    /// Nothing scanned yet, so leading empty lines may still be skipped.
    pub fn is_fresh(&self) -> bool {
        self.resume_at == 0
    }

    /// Scans `data` (the whole head so far, starting at the request line).
    pub fn scan(&mut self, data: &[u8]) -> Scan {
        let mut from = self.resume_at;
        while let Some(offset) = memchr2(b'\r', b'\n', &data[from..]) {
            let i = from + offset;
            if data[i] == b'\n' {
                // Every LF that follows a CR is stepped over below.
                return Scan::BareLineEnding;
            }
            match data.get(i + 1) {
                None => {
                    self.resume_at = i;
                    return Scan::Partial { resume_at: i };
                }
                Some(b'\n') => {}
                Some(_) => return Scan::BareLineEnding,
            }
            if self.first_line_end.is_none() {
                self.first_line_end = Some(i);
            }
            // CRLF at i: the head ends if the line it closes is empty.
            if i >= 2 && data[i - 2] == b'\r' && data[i - 1] == b'\n' {
                return Scan::Complete { head_len: i + 2 };
            }
            if i == 0 {
                // An empty first line only happens when leading CRLFs were not
                // skipped; treat it as the end of an empty head.
                return Scan::Complete { head_len: 2 };
            }
            from = i + 2;
        }
        self.resume_at = data.len();
        Scan::Partial {
            resume_at: data.len(),
        }
    }
}

/// Skips empty lines before a request line (RFC 9112 §2.2 allows ignoring
/// them; some clients send a CRLF after a POST body). Returns how many bytes.
pub fn leading_empty_lines(data: &[u8]) -> usize {
    let mut n = 0;
    while data[n..].starts_with(b"\r\n") {
        n += 2;
    }
    n
}

/// Whether `data`, the first bytes of a request (leading empty lines
/// already skipped), can still become a request line: a method of token
/// characters followed by a space. Bytes that can't (a NUL after a request,
/// TLS sent to a plain port, stray binary) are refused at once instead of
/// waiting out the header timeout for a line that will never be valid.
pub fn could_start_request(data: &[u8]) -> bool {
    for (i, &b) in data.iter().enumerate() {
        match b {
            b' ' => return i > 0,
            // The start of an empty line whose LF is still on its way.
            b'\r' if i == 0 && data.len() == 1 => return true,
            b if super::is_tchar(b) => {}
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_bytes_that_cannot_start_a_request() {
        assert!(could_start_request(b""));
        assert!(could_start_request(b"GE"));
        assert!(could_start_request(b"GET /x"));
        assert!(could_start_request(b"\r"));
        assert!(!could_start_request(b"\0"));
        assert!(!could_start_request(b"GET\0"));
        assert!(!could_start_request(b" GET /"));
        assert!(!could_start_request(b"\x16\x03\x01"));
        assert!(!could_start_request(b"\rX"));
    }

    fn scan_all(data: &[u8]) -> Scan {
        HeadScanner::default().scan(data)
    }

    #[test]
    fn finds_the_end_of_a_clean_head() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
        assert_eq!(
            scan_all(head),
            Scan::Complete {
                head_len: head.len() - 4
            }
        );
    }

    #[test]
    fn resumes_across_reads_split_anywhere() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for split in 1..head.len() {
            let mut scanner = HeadScanner::default();
            let first = scanner.scan(&head[..split]);
            assert!(
                matches!(first, Scan::Partial { .. }),
                "split {split}: {first:?}"
            );
            assert_eq!(
                scanner.scan(head),
                Scan::Complete {
                    head_len: head.len()
                }
            );
        }
    }

    #[test]
    fn rejects_bare_lf_and_bare_cr() {
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\nHost: a\r\n\r\n"),
            Scan::BareLineEnding
        );
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\r\nHost: a\n\n"),
            Scan::BareLineEnding
        );
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"),
            Scan::BareLineEnding
        );
        assert_eq!(
            scan_all(b"GET / HTTP/1.1\r\nX: \r\r\n\r\n"),
            Scan::BareLineEnding
        );
    }

    #[test]
    fn records_the_first_line_end() {
        let mut scanner = HeadScanner::default();
        scanner.scan(b"GET /abc HTTP/1.1\r\nHost: a\r\n");
        assert_eq!(scanner.first_line_end, Some(17));
    }

    #[test]
    fn counts_leading_empty_lines() {
        assert_eq!(leading_empty_lines(b"\r\n\r\nGET"), 4);
        assert_eq!(leading_empty_lines(b"GET"), 0);
    }
}
