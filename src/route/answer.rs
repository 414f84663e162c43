//! Routes tern answers itself: redirects and fixed responses (health
//! endpoints, maintenance pages, the no-route answer).

use crate::http::headers::push_decimal;
use crate::http::status::reason;
use crate::http::Persist;

/// `redirect = { scheme = "https", host = "example.com", path = "/", status = 301 }`:
/// whatever is not given is kept from the request; the query always is.
#[derive(Debug, Clone)]
pub struct Redirect {
    pub status: u16,
    pub scheme: Option<String>,
    /// May carry a port: `example.com:8443`.
    pub host: Option<String>,
    pub path: Option<String>,
}

/// What a redirect keeps from the request.
pub struct RequestUrl<'a> {
    pub scheme: &'a str,
    /// As the client sent it, port included.
    pub host: &'a [u8],
    /// Origin-form target: path and query.
    pub target: &'a [u8],
}

pub const REDIRECT_STATUSES: [u16; 5] = [301, 302, 303, 307, 308];

impl Redirect {
    pub fn location(&self, url: &RequestUrl) -> Vec<u8> {
        let scheme = self.scheme.as_deref().unwrap_or(url.scheme);
        let mut out = Vec::with_capacity(64 + url.target.len());
        out.extend_from_slice(scheme.as_bytes());
        out.extend_from_slice(b"://");
        match &self.host {
            Some(host) => out.extend_from_slice(host.as_bytes()),
            // A port the client used for one scheme is wrong for another.
            None if scheme != url.scheme => out.extend_from_slice(without_port(url.host)),
            None => out.extend_from_slice(url.host),
        }
        let query_at = memchr::memchr(b'?', url.target).unwrap_or(url.target.len());
        match &self.path {
            Some(path) => out.extend_from_slice(path.as_bytes()),
            None if url.target.starts_with(b"/") => out.extend_from_slice(&url.target[..query_at]),
            None => out.push(b'/'),
        }
        out.extend_from_slice(&url.target[query_at..]);
        out
    }

    /// The whole response, without a body.
    pub fn response(&self, url: &RequestUrl, persist: Persist) -> Vec<u8> {
        let mut out = status_line(self.status);
        out.extend_from_slice(b"Location: ");
        out.extend_from_slice(&self.location(url));
        out.extend_from_slice(b"\r\nContent-Length: 0\r\n");
        end_head(&mut out, persist);
        out
    }
}

fn without_port(host: &[u8]) -> &[u8] {
    match memchr::memrchr(b':', host) {
        Some(colon) if !host[colon..].contains(&b']') => &host[..colon],
        _ => host,
    }
}

/// `respond = { status = 200, headers = { ... }, body = "ok\n" }`.
#[derive(Debug, Clone)]
pub struct Respond {
    pub status: u16,
    /// Prebuilt `Name: value\r\n` lines.
    pub fields: Vec<u8>,
    pub body: Vec<u8>,
}

impl Respond {
    pub fn new(status: u16, headers: &[(String, String)], body: &str) -> Respond {
        let mut fields = Vec::new();
        for (name, value) in headers {
            crate::http::headers::push_field(&mut fields, name.as_bytes(), value.as_bytes());
        }
        Respond {
            status,
            fields,
            body: body.as_bytes().to_vec(),
        }
    }

    pub fn response(&self, is_head: bool, persist: Persist) -> Vec<u8> {
        let mut out = status_line(self.status);
        out.extend_from_slice(&self.fields);
        let bodiless = matches!(self.status, 204 | 304) || self.status < 200;
        if !bodiless {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(&mut out, self.body.len() as u64);
            out.extend_from_slice(b"\r\n");
        }
        end_head(&mut out, persist);
        if !is_head && !bodiless {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn status_line(status: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(&mut out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

fn end_head(out: &mut Vec<u8>, persist: Persist) {
    out.extend_from_slice(persist.field().as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect(scheme: Option<&str>, host: Option<&str>, path: Option<&str>) -> Redirect {
        Redirect {
            status: 301,
            scheme: scheme.map(Into::into),
            host: host.map(Into::into),
            path: path.map(Into::into),
        }
    }

    fn location(r: &Redirect, host: &str, target: &str) -> String {
        let url = RequestUrl {
            scheme: "http",
            host: host.as_bytes(),
            target: target.as_bytes(),
        };
        String::from_utf8(r.location(&url)).expect("utf-8")
    }

    #[test]
    fn https_redirect_keeps_host_path_and_query_drops_the_port() {
        let r = redirect(Some("https"), None, None);
        assert_eq!(
            location(&r, "site.com:8080", "/a/b?x=1"),
            "https://site.com/a/b?x=1"
        );
        assert_eq!(location(&r, "site.com", "?x"), "https://site.com/?x");
    }

    #[test]
    fn host_and_path_can_be_replaced() {
        let r = redirect(Some("https"), Some("mywebsite.com"), None);
        assert_eq!(
            location(&r, "other:80", "/p?q"),
            "https://mywebsite.com/p?q"
        );
        let same = redirect(None, None, Some("/new"));
        assert_eq!(location(&same, "h:8080", "/old?q"), "http://h:8080/new?q");
    }

    #[test]
    fn redirect_response_is_complete() {
        let r = redirect(Some("https"), None, None);
        let url = RequestUrl {
            scheme: "http",
            host: b"h",
            target: b"/",
        };
        let text = String::from_utf8(r.response(&url, Persist::Close)).expect("utf-8");
        assert_eq!(
            text,
            "HTTP/1.1 301 Moved Permanently\r\nLocation: https://h/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn respond_writes_fields_and_body_not_for_head() {
        let r = Respond::new(503, &[("Retry-After".into(), "60".into())], "down\n");
        let text = String::from_utf8(r.response(false, Persist::KeepAlive)).expect("utf-8");
        assert_eq!(
            text,
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 60\r\nContent-Length: 5\r\n\r\ndown\n"
        );
        let head = String::from_utf8(r.response(true, Persist::KeepAlive)).expect("utf-8");
        assert!(head.ends_with("Content-Length: 5\r\n\r\n"), "{head}");
    }
}
