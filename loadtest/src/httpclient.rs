//! Reading one HTTP/1.1 response on the client side (long-poll deliveries,
//! the WebSocket handshake). Malformed responses become `InvalidData`
//! errors, which the report counts as protocol errors.

use crate::buf::ReadBuf;
use crate::chunked::ChunkedDecoder;
use crate::http::{response_info, Framing, MAX_HEAD, MAX_HEADERS};
use monoio::io::AsyncReadRent;
use std::io;

/// Bodies above this are a broken test, not something to buffer.
const MAX_BODY: usize = 16 << 20;

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn invalid(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

async fn fill_more<S: AsyncReadRent>(s: &mut S, buf: &mut ReadBuf) -> io::Result<()> {
    match buf.fill(s).await? {
        0 => Err(io::ErrorKind::UnexpectedEof.into()),
        _ => Ok(()),
    }
}

/// Reads a response, skipping interim 100 Continue. A 101 returns at once
/// with its head only: what follows belongs to the new protocol and stays
/// in `buf`.
pub async fn read_response<S: AsyncReadRent>(s: &mut S, buf: &mut ReadBuf) -> io::Result<Response> {
    loop {
        let Some((status, headers, framing)) = parse_head(buf)? else {
            fill_more(s, buf).await?;
            continue;
        };
        if status == 100 {
            continue;
        }
        let body = if status == 101 {
            Vec::new()
        } else {
            read_body(s, buf, framing).await?
        };
        return Ok(Response {
            status,
            headers,
            body,
        });
    }
}

type Head = (u16, Vec<(String, String)>, Framing);

/// Parses and consumes a head if a complete one is buffered.
fn parse_head(buf: &mut ReadBuf) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut headers);
    let len = match res.parse(buf.data()) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.data().len() > MAX_HEAD => {
            return Err(invalid("response head too large"))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(invalid("malformed response head")),
    };
    let info = response_info(&res, false).map_err(invalid)?;
    let headers = res
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    buf.consume(len);
    Ok(Some((info.status, headers, info.framing)))
}

async fn read_body<S: AsyncReadRent>(
    s: &mut S,
    buf: &mut ReadBuf,
    framing: Framing,
) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    match framing {
        Framing::Empty => {}
        Framing::Length(n) if n > MAX_BODY as u64 => return Err(invalid("body too large")),
        Framing::Length(n) => {
            while (buf.data().len() as u64) < n {
                fill_more(s, buf).await?;
            }
            body.extend_from_slice(&buf.data()[..n as usize]);
            buf.consume(n as usize);
        }
        Framing::Chunked => {
            let mut decoder = ChunkedDecoder::default();
            loop {
                let used = decoder
                    .decode(buf.data(), &mut |piece| body.extend_from_slice(piece))
                    .map_err(|e| invalid(e.0))?;
                buf.consume(used);
                if decoder.is_done() {
                    break;
                }
                if body.len() > MAX_BODY {
                    return Err(invalid("body too large"));
                }
                fill_more(s, buf).await?;
            }
        }
        Framing::UntilClose => loop {
            body.extend_from_slice(buf.data());
            let n = buf.data().len();
            buf.consume(n);
            if body.len() > MAX_BODY {
                return Err(invalid("body too large"));
            }
            if buf.fill(s).await? == 0 {
                break;
            }
        },
    }
    Ok(body)
}
