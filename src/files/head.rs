//! The response heads tern writes for files: status line, `Date`, the
//! fields given, and the connection's fate.

use std::fmt::Display;
use std::io::Write;

use crate::http::Persist;

/// A head being written into a pooled buffer, which may then take a small
/// body too, so head and body leave in one write.
pub struct ResponseHead(Vec<u8>);

impl ResponseHead {
    pub fn new(status: u16) -> ResponseHead {
        let mut buf = crate::buffer::take();
        let _ = write!(buf, "HTTP/1.1 {status} {}\r\nDate: ", reason(status));
        super::date::push_now(&mut buf);
        buf.extend_from_slice(b"\r\n");
        ResponseHead(buf)
    }

    pub fn field(&mut self, name: &str, value: impl Display) -> &mut Self {
        self.line(name, |buf| {
            // Writing into a Vec can't fail.
            let _ = write!(buf, "{value}");
        })
    }

    pub fn bytes_field(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.line(name, |buf| buf.extend_from_slice(value))
    }

    /// `name: value\r\n`, the name copied as it is (only a value may need
    /// formatting).
    fn line(&mut self, name: &str, write_value: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b": ");
        write_value(&mut self.0);
        self.0.extend_from_slice(b"\r\n");
        self
    }

    /// Ends the head; the body, if any, is appended by the caller.
    pub fn finish(mut self, persist: Persist) -> Vec<u8> {
        self.0.extend_from_slice(persist.field().as_bytes());
        self.0.extend_from_slice(b"\r\n");
        self.0
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        403 => "Forbidden",
        416 => "Range Not Satisfiable",
        other => crate::http::status::reason(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_has_status_date_fields_and_end() {
        let mut head = ResponseHead::new(206);
        head.field("Content-Length", 10)
            .bytes_field("ETag", b"\"x\"");
        let text = String::from_utf8(head.finish(Persist::Close)).expect("ascii");
        assert!(
            text.starts_with("HTTP/1.1 206 Partial Content\r\nDate: "),
            "{text}"
        );
        assert!(
            text.contains("\r\nContent-Length: 10\r\nETag: \"x\"\r\n"),
            "{text}"
        );
        assert!(text.ends_with("\r\nConnection: close\r\n\r\n"), "{text}");
    }

    #[test]
    fn http10_keep_alive_is_announced() {
        let text = ResponseHead::new(200).finish(Persist::KeepAliveHttp10);
        assert!(text.ends_with(b"Connection: keep-alive\r\n\r\n"));
        let text = ResponseHead::new(200).finish(Persist::KeepAlive);
        assert!(!text.windows(11).any(|w| w == b"Connection:"));
    }
}
