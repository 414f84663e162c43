//! Just enough HTTP/1.1 for the admin endpoint: one request per connection
//! (blocking, each read and write bounded by a deadline), parsed with
//! httparse, answered with `Connection: close`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Heads and bodies larger than this are refused: nothing here needs more.
const MAX_REQUEST: usize = 16 * 1024;
/// The whole request, head and body, must arrive within this (else 408),
/// as the workers' `client_header` bounds a whole head: a timeout per read
/// let a client sending a byte every 1.9 s hold its connection for hours.
/// An admin request is a few hundred bytes that curl, Prometheus or a
/// browser send at once, so 5 s is ample even across a slow link, and
/// leaves room for two lost segments to be resent (TCP resends after 1 s,
/// then 2 s more) before a sound client is cut off.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// The whole answer must be taken within this, so a client that stops
/// reading can't hold its connection either. Longer than the request's:
/// a `/metrics` of a large config is hundreds of KiB, sent at the
/// client's pace.
pub const RESPONSE_DEADLINE: Duration = Duration::from_secs(10);

/// When a request or an answer must be done by. Each blocking read or write
/// waits at most what is left of it, so a client trickling bytes gets no
/// more time in all than one that sends nothing.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(time: Duration) -> Self {
        Deadline(Instant::now() + time)
    }

    /// The time left; `None` once it has passed (a socket timeout of zero
    /// would mean "wait forever").
    fn left(&self) -> Option<Duration> {
        self.0
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
    }
}

pub struct Request {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub host: Option<String>,
    pub origin: Option<String>,
    /// Sent by browsers' HTML forms (`application/x-www-form-urlencoded`).
    pub content_type: Option<String>,
}

pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub location: Option<String>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
            location: None,
        }
    }

    pub fn text(status: u16, message: &str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", format!("{message}\n"))
    }
}

/// Reads one request, all of it by `deadline`; `Err` with the status to
/// refuse it with (408 when the deadline passed).
pub fn read_request(stream: &mut TcpStream, deadline: Deadline) -> Result<Request, u16> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut len = 0;
    loop {
        let n = read_by(stream, &mut buf[len..], deadline)?;
        if n == 0 {
            return Err(400);
        }
        len += n;
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut fields);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(head_len)) => {
                let request = to_request(&req)?;
                let body = content_length(&req)?;
                drain_body(stream, len - head_len, body, deadline)?;
                return Ok(request);
            }
            Ok(httparse::Status::Partial) if len < buf.len() => {}
            Ok(httparse::Status::Partial) => return Err(431),
            Err(_) => return Err(400),
        }
    }
}

fn to_request(req: &httparse::Request) -> Result<Request, u16> {
    let target = req.path.ok_or(400u16)?;
    let field = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::to_owned)
    };
    Ok(Request {
        method: req.method.ok_or(400u16)?.to_owned(),
        path: target.split('?').next().unwrap_or_default().to_owned(),
        host: host(req)?,
        origin: field("origin"),
        content_type: field("content-type"),
    })
}

/// The request's one `Host`. An HTTP/1.1 request without one, or any with
/// two, is a 400 (RFC 9112 §3.2), as on the listeners: otherwise the guard
/// would see only the first of two, or none at all. So is a `Host` that is
/// not UTF-8, which the guard could not read. HTTP/1.0 may leave it out.
fn host(req: &httparse::Request) -> Result<Option<String>, u16> {
    let mut hosts = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"));
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(400);
    }
    match first {
        Some(field) => std::str::from_utf8(field.value)
            .map(|host| Some(host.to_owned()))
            .map_err(|_| 400),
        None if req.version == Some(0) => Ok(None),
        None => Err(400),
    }
}

/// The body's length, from its one `Content-Length` (fields that repeat it
/// must agree; digits only). A body framed any other way is refused: the
/// endpoint takes no chunked body (411, as a server that wants a length
/// says), and answering one it read as empty would leave the body to be
/// read as the next request, or reset the answer away on close.
fn content_length(req: &httparse::Request) -> Result<usize, u16> {
    let mut length = None;
    for field in req.headers.iter() {
        if field.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(411);
        }
        if !field.name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        for value in field.value.split(|&byte| byte == b',') {
            let digits = value.trim_ascii();
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(400);
            }
            let len = std::str::from_utf8(digits)
                .ok()
                .and_then(|text| text.parse::<usize>().ok())
                .ok_or(413u16)?;
            if length.is_some_and(|seen| seen != len) {
                return Err(400);
            }
            length = Some(len);
        }
    }
    match length {
        Some(len) if len > MAX_REQUEST => Err(413),
        length => Ok(length.unwrap_or(0)),
    }
}

/// Reads and drops the body, so closing doesn't reset the answer away.
fn drain_body(
    stream: &mut TcpStream,
    buffered: usize,
    body: usize,
    deadline: Deadline,
) -> Result<(), u16> {
    let mut left = body.saturating_sub(buffered);
    let mut sink = [0u8; 1024];
    while left > 0 {
        let n = read_by(stream, &mut sink[..left.min(1024)], deadline)?;
        if n == 0 {
            return Err(400);
        }
        left -= n;
    }
    Ok(())
}

/// One read that waits at most until `deadline`: 408 once it has passed
/// (or the read failed, which ends the request as well).
fn read_by(stream: &mut TcpStream, buf: &mut [u8], deadline: Deadline) -> Result<usize, u16> {
    let left = deadline.left().ok_or(408u16)?;
    stream.set_read_timeout(Some(left)).map_err(|_| 408u16)?;
    stream.read(buf).map_err(|_| 408u16)
}

/// `write_all`, with every write waiting at most until `deadline`.
fn write_all_by(stream: &mut TcpStream, mut data: &[u8], deadline: Deadline) -> io::Result<()> {
    while !data.is_empty() {
        let left = deadline.left().ok_or(io::ErrorKind::TimedOut)?;
        stream.set_write_timeout(Some(left))?;
        match stream.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = data.get(n..).unwrap_or_default(),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Writes the answer, all of it by `deadline`.
pub fn write_response(
    stream: &mut TcpStream,
    response: &Response,
    deadline: Deadline,
) -> io::Result<()> {
    let reason = crate::http::status::reason(response.status);
    let reason = match response.status {
        200 => "OK",
        303 => "See Other",
        403 => "Forbidden",
        422 => "Unprocessable Content",
        _ => reason,
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        response.status,
        response.content_type,
        response.body.len()
    );
    if let Some(location) = &response.location {
        head.push_str(&format!("Location: {location}\r\n"));
    }
    head.push_str("\r\n");
    write_all_by(stream, head.as_bytes(), deadline)?;
    write_all_by(stream, &response.body, deadline)
}

/// Percent-encodes a path segment (names from the config may hold anything).
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX`; `None` if malformed or not UTF-8.
pub fn decode_segment(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Accepts one connection whose client runs `client` in a thread of its own.
    fn served(client: impl FnOnce(TcpStream) + Send + 'static) -> TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || client(TcpStream::connect(addr).expect("connect")));
        listener.accept().expect("accept").0
    }

    /// Sends `data` a byte every 50 ms, the connection held open after.
    fn trickle(data: &'static [u8]) -> impl FnOnce(TcpStream) + Send {
        move |mut stream| {
            for byte in data {
                if stream.write_all(&[*byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            std::thread::sleep(Duration::from_secs(5));
        }
    }

    #[test]
    fn a_trickled_head_gets_408_once_the_deadline_passes() {
        let mut stream = served(trickle(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
        let started = Instant::now();
        let got = read_request(&mut stream, Deadline::after(Duration::from_millis(300)));
        assert_eq!(got.err(), Some(408));
        // Each byte comes well within a read's time; only the whole
        // request's deadline ends it (the head takes 2 s to trickle).
        assert!(started.elapsed() < Duration::from_millis(1500));
    }

    #[test]
    fn a_trickled_body_counts_against_the_same_deadline() {
        let head = b"POST /reload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40\r\n\r\n";
        let mut stream = served(move |mut stream| {
            let _ = stream.write_all(head);
            trickle(&[b'a'; 40])(stream);
        });
        let got = read_request(&mut stream, Deadline::after(Duration::from_millis(300)));
        assert_eq!(got.err(), Some(408));
    }

    /// The request in `head`, as `read_request` makes it.
    fn parsed(head: &[u8]) -> Result<Request, u16> {
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut fields);
        assert!(matches!(req.parse(head), Ok(httparse::Status::Complete(_))));
        to_request(&req)
    }

    /// The body length `read_request` takes from `head`.
    fn body_length(head: &[u8]) -> Result<usize, u16> {
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut fields);
        assert!(matches!(req.parse(head), Ok(httparse::Status::Complete(_))));
        content_length(&req)
    }

    #[test]
    fn a_body_is_taken_only_by_a_length_all_its_fields_agree_on() {
        let post = |fields: &str| {
            body_length(format!("POST /reload HTTP/1.1\r\nHost: a\r\n{fields}\r\n").as_bytes())
        };
        assert_eq!(post(""), Ok(0));
        assert_eq!(post("Content-Length: 12\r\n"), Ok(12));
        assert_eq!(
            post("Content-Length: 12, 12\r\nContent-Length: 12\r\n"),
            Ok(12)
        );
        assert_eq!(post("Transfer-Encoding: chunked\r\n"), Err(411));
        let chunked_too = "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n";
        assert_eq!(post(chunked_too), Err(411));
        for refused in ["12, 13", "+12", "-1", "0x10", "", "1 2"] {
            let fields = format!("Content-Length: {refused}\r\n");
            assert_eq!(post(&fields), Err(400), "{refused:?}");
        }
        assert_eq!(
            post("Content-Length: 12\r\nContent-Length: 13\r\n"),
            Err(400)
        );
        assert_eq!(
            post("Content-Length: 99999999999999999999999\r\n"),
            Err(413)
        );
        assert_eq!(post("Content-Length: 16385\r\n"), Err(413));
    }

    #[test]
    fn an_http_1_1_request_needs_exactly_one_host() {
        let host = |head: &[u8]| parsed(head).map(|req| req.host);
        assert_eq!(
            host(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            Ok(Some("a".into()))
        );
        assert_eq!(host(b"GET / HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(
            host(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
            Err(400)
        );
        assert_eq!(host(b"GET / HTTP/1.1\r\nHost: \xff\r\n\r\n"), Err(400));
        assert_eq!(host(b"GET / HTTP/1.0\r\n\r\n"), Ok(None));
        assert_eq!(
            host(b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
            Err(400)
        );
    }

    #[test]
    fn a_request_sent_at_once_is_read() {
        let mut stream = served(|mut stream| {
            let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            std::thread::sleep(Duration::from_secs(1));
        });
        let got = read_request(&mut stream, Deadline::after(Duration::from_secs(5)));
        assert_eq!(got.map(|req| req.path).ok().as_deref(), Some("/metrics"));
    }

    #[test]
    fn segments_round_trip_through_percent_encoding() {
        for name in ["app", "my app/v2", "ünï", "a%b"] {
            assert_eq!(decode_segment(&encode_segment(name)).as_deref(), Some(name));
        }
        assert_eq!(encode_segment("a b"), "a%20b");
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%4"), None);
    }
}
