//! Reading one HTTP/1.1 response on the client side (long-poll deliveries,
//! the WebSocket handshake, paced requests). Malformed responses become
//! `InvalidData` errors, which the report counts as protocol errors.

use crate::buf::ReadBuf;
use crate::chunked::ChunkedDecoder;
use crate::http::{response_info, Framing, ResponseInfo, MAX_HEAD, MAX_HEADERS};
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
    let owned = |res: &httparse::Response<'_, '_>| {
        res.headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect()
    };
    let parsed = parse_head_with(buf, owned)?;
    Ok(parsed.map(|(info, headers)| (info.status, headers, info.framing)))
}

/// Parses and consumes a head if a complete one is buffered, taking what
/// the caller needs from it with `take` before the buffer moves on.
fn parse_head_with<T>(
    buf: &mut ReadBuf,
    take: impl FnOnce(&httparse::Response<'_, '_>) -> T,
) -> io::Result<Option<(ResponseInfo, T)>> {
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
    let taken = take(&res);
    buf.consume(len);
    Ok(Some((info, taken)))
}

/// Reads a response to a GET and drops its body as it arrives; returns its
/// status and whether the server will close the connection after it. For
/// load generation: no copy, no size limit, and a buffer that never grows
/// past one read.
pub async fn skip_response<S: AsyncReadRent>(
    s: &mut S,
    buf: &mut ReadBuf,
) -> io::Result<ResponseInfo> {
    loop {
        let Some((info, ())) = parse_head_with(buf, |_| ())? else {
            fill_more(s, buf).await?;
            continue;
        };
        if info.status == 100 {
            continue;
        }
        if info.status != 101 {
            each_body_piece(s, buf, info.framing, &mut |_| Ok(())).await?;
        }
        return Ok(info);
    }
}

async fn read_body<S: AsyncReadRent>(
    s: &mut S,
    buf: &mut ReadBuf,
    framing: Framing,
) -> io::Result<Vec<u8>> {
    if matches!(framing, Framing::Length(n) if n > MAX_BODY as u64) {
        return Err(invalid("body too large"));
    }
    let mut body = Vec::new();
    each_body_piece(s, buf, framing, &mut |piece| {
        body.extend_from_slice(piece);
        match body.len() > MAX_BODY {
            true => Err(invalid("body too large")),
            false => Ok(()),
        }
    })
    .await?;
    Ok(body)
}

/// Hands each piece of the body to `sink` as it is read, consuming it from
/// `buf`; returns at the body's end (or with the sink's error).
async fn each_body_piece<S: AsyncReadRent>(
    s: &mut S,
    buf: &mut ReadBuf,
    framing: Framing,
    sink: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    match framing {
        Framing::Empty => {}
        Framing::Length(mut left) => loop {
            let take = buf
                .data()
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            sink(&buf.data()[..take])?;
            buf.consume(take);
            left -= take as u64;
            if left == 0 {
                break;
            }
            fill_more(s, buf).await?;
        },
        Framing::Chunked => {
            let mut decoder = ChunkedDecoder::default();
            let mut failed = None;
            loop {
                let used = decoder
                    .decode(buf.data(), &mut |piece| {
                        if failed.is_none() {
                            failed = sink(piece).err();
                        }
                    })
                    .map_err(|e| invalid(e.0))?;
                buf.consume(used);
                if let Some(e) = failed.take() {
                    return Err(e);
                }
                if decoder.is_done() {
                    break;
                }
                fill_more(s, buf).await?;
            }
        }
        Framing::UntilClose => loop {
            let n = buf.data().len();
            sink(buf.data())?;
            buf.consume(n);
            if buf.fill(s).await? == 0 {
                break;
            }
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Skips responses from `wire` until it runs out; the statuses, or the
    /// first error's kind.
    fn skip_all(wire: &'static [u8]) -> Result<Vec<u16>, io::ErrorKind> {
        crate::runtime::block_on(async {
            let mut reader = wire;
            // Smaller than the bodies, so they take several reads.
            let mut buf = ReadBuf::with_capacity(16);
            let mut statuses = Vec::new();
            while !reader.is_empty() || !buf.data().is_empty() {
                statuses.push(
                    skip_response(&mut reader, &mut buf)
                        .await
                        .map_err(|e| e.kind())?
                        .status,
                );
            }
            Ok(statuses)
        })
        .expect("runtime")
    }

    #[test]
    fn skipping_stops_at_each_bodys_end_whatever_its_framing() {
        let sized = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n{}",
            "a".repeat(3000)
        );
        let chunked = format!(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\n\
             Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n400\r\n{}\r\n0\r\n\r\n",
            "x".repeat(0x400)
        );
        let empty = "HTTP/1.1 204 No Content\r\n\r\n";
        let wire = Box::leak(format!("{sized}{chunked}{empty}").into_boxed_str());
        assert_eq!(skip_all(wire.as_bytes()), Ok(vec![200, 404, 204]));
    }

    #[test]
    fn a_body_cut_short_is_an_error() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
        assert_eq!(skip_all(wire), Err(io::ErrorKind::UnexpectedEof));
    }
}
