//! What a request's log line needs from its head, taken while the head is
//! still in the read buffer. Only made when access logging is on.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::http::headers::{classify, FieldKind};
use crate::http::request::RequestHead;

pub struct Entry {
    pub time: SystemTime,
    pub client: IpAddr,
    /// "GET /path HTTP/1.1" as the client sent it.
    pub request_line: Box<str>,
    pub referer: Option<Box<str>>,
    pub user_agent: Option<Box<str>>,
}

impl Entry {
    pub fn new(head: &[u8], req: &RequestHead, client: IpAddr) -> Box<Entry> {
        let line_end = memchr::memchr(b'\r', head).unwrap_or(head.len());
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned().into_boxed_str();
        let field = |name: &[u8]| {
            req.headers
                .iter()
                .find(|f| {
                    classify(f.name.as_bytes()) == FieldKind::Other
                        && f.name.as_bytes().eq_ignore_ascii_case(name)
                })
                .map(|f| text(f.value))
        };
        Box::new(Entry {
            time: SystemTime::now(),
            client,
            request_line: text(&head[..line_end]),
            referer: field(b"referer"),
            user_agent: field(b"user-agent"),
        })
    }

    /// The request line as the client sent it: an HTTP/2 stream's head was
    /// translated to HTTP/1.1 on the way in, so its line says `HTTP/2.0`.
    pub fn over(mut self: Box<Self>, http2: bool) -> Box<Self> {
        if http2 {
            if let Some(line) = self.request_line.strip_suffix("HTTP/1.1") {
                self.request_line = format!("{line}HTTP/2.0").into_boxed_str();
            }
        }
        self
    }

    /// For a request refused before it could be parsed.
    pub fn unparsed(head: &[u8], client: IpAddr) -> Box<Entry> {
        let line_end = memchr::memchr2(b'\r', b'\n', head)
            .unwrap_or(head.len())
            .min(1024);
        Box::new(Entry {
            time: SystemTime::now(),
            client,
            request_line: String::from_utf8_lossy(&head[..line_end])
                .into_owned()
                .into_boxed_str(),
            referer: None,
            user_agent: None,
        })
    }
}
