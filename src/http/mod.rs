//! HTTP/1.1 message syntax (RFC 9112): head scanning and parsing, header
//! rules, the chunked codec and the responses tern writes itself.

pub mod chunked;
pub mod headers;
pub mod path;
pub mod request;
pub mod response;
pub mod scan;
pub mod status;
pub mod websocket76;

/// The value of one hex digit, in either case (chunk sizes, escapes).
pub fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// What a request head may be: `[limits]` in the config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_head_bytes: usize,
    pub max_request_line_bytes: usize,
    pub max_headers: usize,
}

/// What a response tern writes itself says about the connection
/// (`RequestHead::persist`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    KeepAlive,
    /// An HTTP/1.0 client that asked for keep-alive must be told it is kept.
    KeepAliveHttp10,
    Close,
}

impl Persist {
    /// The `Connection` field line that says so, if one is needed.
    pub fn field(self) -> &'static str {
        match self {
            Persist::KeepAlive => "",
            Persist::KeepAliveHttp10 => "Connection: keep-alive\r\n",
            Persist::Close => "Connection: close\r\n",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all.
    None,
    /// Exactly this many bytes (may be 0 when a Content-Length said so).
    Length(u64),
    Chunked,
    /// Until the sender closes (responses only).
    UntilClose,
}

impl BodyKind {
    pub fn is_empty(self) -> bool {
        matches!(self, BodyKind::None | BodyKind::Length(0))
    }
}

/// RFC 9110 token characters (methods, field names, trailer names).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
