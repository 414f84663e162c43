//! The request loop of one connection and the endpoint dispatch.

use super::body::{read_body, BodyError};
use super::conn::{Conn, FLUSH_AT};
use super::poll::{self, Outcome};
use super::pubsub::{Hub, Local};
use super::responses::{head, simple, Config, Length, Persist, FILL};
use super::route::{route, Method, Route};
use super::websocket;
use crate::chunked::{chunk_header, LAST_CHUNK};
use crate::http::{request_info, Framing, RequestInfo, MAX_HEAD, MAX_HEADERS};
use monoio::net::TcpStream;
use std::io;
use std::rc::Rc;
use std::sync::Arc;

/// Everything a connection needs from its worker thread.
pub struct Worker {
    pub id: usize,
    pub config: Arc<Config>,
    pub hub: Arc<Hub>,
    pub local: Rc<Local>,
}

/// A publish body is held in memory for every subscriber; keep it sane.
const MAX_PUBLISH: usize = 1 << 20;

struct Request {
    method: Method,
    target: String,
    info: RequestInfo,
}

enum Parsed {
    Partial,
    Bad(&'static str, &'static str),
    Request(Request, usize),
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => match request_info(&req) {
            Ok(info) => Parsed::Request(
                Request {
                    method: Method::parse(req.method.unwrap_or("")),
                    target: req.path.unwrap_or("/").to_string(),
                    info,
                },
                len,
            ),
            Err(why) => Parsed::Bad("400 Bad Request", why),
        },
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            Parsed::Bad("431 Request Header Fields Too Large", "head too large")
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            Parsed::Bad("431 Request Header Fields Too Large", "too many headers")
        }
        Err(_) => Parsed::Bad("400 Bad Request", "malformed request"),
    }
}

pub async fn serve(stream: TcpStream, worker: Rc<Worker>) {
    let mut conn = Conn::new(stream);
    // An I/O error only ends this connection; there is no one to tell.
    let _ = serve_conn(&mut conn, &worker).await;
}

async fn serve_conn(conn: &mut Conn, w: &Worker) -> io::Result<()> {
    loop {
        let (req, len) = match parse(conn.input.data()) {
            Parsed::Request(req, len) => (req, len),
            Parsed::Partial => {
                if conn.fill().await? == 0 {
                    return Ok(());
                }
                continue;
            }
            Parsed::Bad(status, why) => {
                simple(&mut conn.out, status, &format!("{why}\n"), Persist::Close);
                return conn.flush().await;
            }
        };
        conn.input.consume(len);
        if !respond(conn, w, req).await? {
            return conn.flush().await;
        }
        if conn.out.len() >= FLUSH_AT {
            conn.flush().await?;
        }
    }
}

/// Answers one request; returns whether the connection stays open.
async fn respond(conn: &mut Conn, w: &Worker, req: Request) -> io::Result<bool> {
    let persist = Persist::of(&req.info);
    let head_only = req.method == Method::Head;
    let route = route(req.method, &req.target);
    let Some((length, body)) = request_body(conn, &req.info, &route).await? else {
        return Ok(false);
    };
    let out = &mut conn.out;
    match route {
        Route::Healthz => out.extend_from_slice(w.config.healthz.get(persist).bytes(head_only)),
        Route::Default => out.extend_from_slice(w.config.default.get(persist).bytes(head_only)),
        Route::Stats => {
            let accepted = super::ACCEPTED.load(std::sync::atomic::Ordering::Relaxed);
            simple(out, "200 OK", &format!("accepted {accepted}\n"), persist);
        }
        Route::Bytes(n) => generated(conn, n, persist, head_only).await?,
        Route::Chunked(n) if req.info.http10 => generated(conn, n, persist, head_only).await?,
        Route::Chunked(n) => chunked(conn, n, persist, head_only).await?,
        Route::Poll { channel, timeout } => {
            match poll::wait(conn, &w.local, &channel, timeout).await? {
                Outcome::Published(m) => {
                    head(
                        &mut conn.out,
                        "200 OK",
                        Length::Bytes(m.len() as u64),
                        persist,
                    );
                    if !head_only {
                        conn.out.extend_from_slice(&m);
                    }
                }
                Outcome::TimedOut => head(&mut conn.out, "204 No Content", Length::None, persist),
                Outcome::Gone => return Ok(false),
            }
        }
        Route::Publish(_) if body.len() > MAX_PUBLISH => {
            simple(
                out,
                "413 Content Too Large",
                "message too large\n",
                Persist::Close,
            );
            return Ok(false);
        }
        Route::Publish(channel) => {
            let n = w.hub.publish(w.id, &w.local, &channel, body.into()).await;
            simple(&mut conn.out, "200 OK", &format!("released {n}\n"), persist);
        }
        Route::WebSocket => match (&req.info.websocket_key, req.method) {
            (Some(key), Method::Get) => {
                websocket::serve(conn, key).await?;
                return Ok(false);
            }
            _ => simple(
                out,
                "400 Bad Request",
                "expected a WebSocket upgrade\n",
                persist,
            ),
        },
        Route::Upload => simple(
            out,
            "200 OK",
            &format!("received {length} bytes\n"),
            persist,
        ),
        Route::BadRequest(why) => simple(out, "400 Bad Request", &format!("{why}\n"), persist),
    }
    Ok(persist != Persist::Close)
}

/// Reads the request body if there is one: kept for a publish, counted and
/// dropped otherwise. `None` means the connection must close (a 400 for bad
/// framing is already queued).
async fn request_body(
    conn: &mut Conn,
    info: &RequestInfo,
    route: &Route,
) -> io::Result<Option<(u64, Vec<u8>)>> {
    if info.framing == Framing::Empty {
        return Ok(Some((0, Vec::new())));
    }
    if info.expect_continue {
        conn.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let keep = matches!(route, Route::Publish(_));
    let mut body = Vec::new();
    let mut sink = |piece: &[u8]| {
        // One byte past the limit is enough to answer 413.
        if keep && body.len() <= MAX_PUBLISH {
            body.extend_from_slice(piece);
        }
    };
    match read_body(conn, info.framing, &mut sink).await {
        Ok(length) => Ok(Some((length, body))),
        Err(BodyError::Malformed(why)) => {
            simple(
                &mut conn.out,
                "400 Bad Request",
                &format!("{why}\n"),
                Persist::Close,
            );
            Ok(None)
        }
        Err(BodyError::Io(e)) => Err(e),
    }
}

/// `n` bytes of filler with a Content-Length.
async fn generated(conn: &mut Conn, n: u64, persist: Persist, head_only: bool) -> io::Result<()> {
    head(&mut conn.out, "200 OK", Length::Bytes(n), persist);
    let mut left = if head_only { 0 } else { n };
    while left > 0 {
        let k = left.min(FILL.len() as u64) as usize;
        conn.out.extend_from_slice(&FILL[..k]);
        left -= k as u64;
        if conn.out.len() >= FLUSH_AT {
            conn.flush().await?;
        }
    }
    Ok(())
}

/// `n` bytes of filler in 4 KiB chunks.
async fn chunked(conn: &mut Conn, n: u64, persist: Persist, head_only: bool) -> io::Result<()> {
    head(&mut conn.out, "200 OK", Length::Chunked, persist);
    if head_only {
        return Ok(());
    }
    let mut left = n;
    while left > 0 {
        let k = left.min(4096) as usize;
        chunk_header(&mut conn.out, k);
        conn.out.extend_from_slice(&FILL[..k]);
        conn.out.extend_from_slice(b"\r\n");
        left -= k as u64;
        if conn.out.len() >= FLUSH_AT {
            conn.flush().await?;
        }
    }
    conn.out.extend_from_slice(LAST_CHUNK);
    Ok(())
}
