//! Maps a request line to an endpoint. Pure, so the URL grammar is tested
//! without sockets.

use crate::http::query_param;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Other,
}

impl Method {
    pub fn parse(m: &str) -> Method {
        match m {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            _ => Method::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Healthz,
    /// `GET /origin-stats`: connections accepted so far (`super::ACCEPTED`).
    Stats,
    Bytes(u64),
    Chunked(u64),
    Poll {
        channel: String,
        timeout: Duration,
    },
    Publish(String),
    WebSocket,
    /// POST/PUT anywhere else: the body is read and counted.
    Upload,
    /// Everything else: `--body-size` bytes of text.
    Default,
    BadRequest(&'static str),
}

/// Long-polls wait this long when the client doesn't say (`?timeout=`).
const DEFAULT_POLL_TIMEOUT: Duration = Duration::from_secs(300);

/// `/bytes/N` is bounded so one request can't stream forever.
const MAX_GENERATED_BODY: u64 = 1 << 34;

pub fn route(method: Method, target: &str) -> Route {
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    let reads = matches!(method, Method::Get | Method::Head);
    match method {
        Method::Post if path.starts_with("/publish/") => {
            return channel(&path["/publish/".len()..])
                .map_or(Route::BadRequest("empty channel"), |c| {
                    Route::Publish(c.to_string())
                })
        }
        Method::Post | Method::Put => return Route::Upload,
        _ if !reads => return Route::Default,
        _ => {}
    }
    if path == "/healthz" {
        Route::Healthz
    } else if path == "/origin-stats" {
        Route::Stats
    } else if path == "/ws" {
        Route::WebSocket
    } else if let Some(n) = path.strip_prefix("/bytes/") {
        size(n).map_or(Route::BadRequest("bad size"), Route::Bytes)
    } else if let Some(n) = path.strip_prefix("/chunked/") {
        size(n).map_or(Route::BadRequest("bad size"), Route::Chunked)
    } else if let Some(c) = poll_channel(path) {
        poll(c, target)
    } else {
        Route::Default
    }
}

/// `/poll/C` and `/subscriptions/channel/C` (what a Comet server exposes).
fn poll_channel(path: &str) -> Option<&str> {
    path.strip_prefix("/poll/")
        .or_else(|| path.strip_prefix("/subscriptions/channel/"))
}

fn poll(c: &str, target: &str) -> Route {
    let Some(channel) = channel(c) else {
        return Route::BadRequest("empty channel");
    };
    let timeout = match query_param(target, "timeout") {
        None => DEFAULT_POLL_TIMEOUT,
        Some(t) => match t.parse::<u64>() {
            Ok(s) if s <= 86_400 => Duration::from_secs(s),
            _ => return Route::BadRequest("bad timeout"),
        },
    };
    Route::Poll {
        channel: channel.to_string(),
        timeout,
    }
}

fn channel(c: &str) -> Option<&str> {
    (!c.is_empty()).then_some(c)
}

fn size(n: &str) -> Option<u64> {
    n.parse().ok().filter(|&n| n <= MAX_GENERATED_BODY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Method::*;

    #[test]
    fn routes() {
        assert_eq!(route(Get, "/healthz"), Route::Healthz);
        assert_eq!(route(Get, "/origin-stats"), Route::Stats);
        assert_eq!(route(Post, "/origin-stats"), Route::Upload);
        assert_eq!(route(Head, "/bytes/10"), Route::Bytes(10));
        assert_eq!(route(Get, "/chunked/5?x"), Route::Chunked(5));
        assert_eq!(route(Get, "/bytes/x"), Route::BadRequest("bad size"));
        assert_eq!(route(Get, "/anything"), Route::Default);
        assert_eq!(route(Other, "/healthz"), Route::Default);
        assert_eq!(route(Get, "/ws"), Route::WebSocket);
        assert_eq!(route(Post, "/publish/news"), Route::Publish("news".into()));
        assert_eq!(route(Put, "/publish/news"), Route::Upload);
        assert_eq!(route(Post, "/healthz"), Route::Upload);
    }

    #[test]
    fn poll_routes() {
        let p = |t: &str| route(Get, t);
        assert_eq!(
            p("/poll/a?timeout=7"),
            Route::Poll {
                channel: "a".into(),
                timeout: Duration::from_secs(7)
            }
        );
        assert_eq!(
            p("/subscriptions/channel/b"),
            Route::Poll {
                channel: "b".into(),
                timeout: DEFAULT_POLL_TIMEOUT
            }
        );
        assert_eq!(p("/poll/"), Route::BadRequest("empty channel"));
        assert_eq!(p("/poll/a?timeout=x"), Route::BadRequest("bad timeout"));
    }
}
