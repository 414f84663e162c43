//! The challenges under way, shared by the ACME thread (which adds and
//! removes them) and the workers (which answer them). Process-wide tables:
//! they outlive any one plan, and are empty, and never locked, unless an
//! order is running.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use rustls::sign::CertifiedKey;

/// The path prefix of HTTP-01 (RFC 8555 §8.3).
pub const HTTP01_PREFIX: &[u8] = b"/.well-known/acme-challenge/";

/// HTTP-01: (token, key authorization, the domain it validates).
static HTTP01: RwLock<Vec<(String, String, String)>> = RwLock::new(Vec::new());
/// TLS-ALPN-01: domain → the challenge certificate.
static ALPN: RwLock<Vec<(String, Arc<CertifiedKey>)>> = RwLock::new(Vec::new());
/// Entries in both tables: lets a request skip the lock when none runs.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Answers `GET /.well-known/acme-challenge/TOKEN` (or HEAD) for a token
/// of a running order, when the Host is the domain that token validates
/// (port ignored, any case): what a validator sends. `None` for every
/// other request (one prefix comparison, no lock, no allocation), which
/// then goes on to the routes: a POST, or another site's Host on a shared
/// listener, is the site's business, not ACME's.
/// `host`: the Host's name, without its port or trailing dot
/// (`route::host::host_name`), asked for only when the path is a
/// challenge's; `connection`: the `Connection` field line the answer ends
/// with, if any (`http::Persist::field`). Both made by the caller: `acme`
/// lies below `http` and `route`.
pub fn http01_response<'h>(
    method: &str,
    host: impl FnOnce() -> &'h [u8],
    path: &[u8],
    connection: &str,
) -> Option<Vec<u8>> {
    let token = path.strip_prefix(HTTP01_PREFIX)?;
    if PENDING.load(Ordering::Acquire) == 0 || !matches!(method, "GET" | "HEAD") {
        return None;
    }
    let host = host();
    let table = HTTP01.read().ok()?;
    let (_, key_auth, _) = table.iter().find(|(t, _, domain)| {
        t.as_bytes() == token && domain.as_bytes().eq_ignore_ascii_case(host)
    })?;
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n{connection}\r\n",
        key_auth.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(key_auth.as_bytes());
    }
    Some(response)
}

/// The TLS-ALPN-01 certificate for `domain`, while its challenge runs.
pub fn alpn_certificate(domain: Option<&str>) -> Option<Arc<CertifiedKey>> {
    let domain = domain?;
    let table = ALPN.read().ok()?;
    table
        .iter()
        .find(|(d, _)| d.eq_ignore_ascii_case(domain))
        .map(|(_, key)| key.clone())
}

/// A challenge being answered; removed from its table when dropped, so an
/// order that fails half-way leaves nothing behind.
pub(super) struct Answering {
    http01_token: Option<String>,
    alpn_domain: Option<String>,
}

impl Answering {
    /// `domain`: the name the token validates, the Host it is answered for.
    pub fn http01(domain: &str, token: &str, key_authorization: &str) -> Self {
        if let Ok(mut table) = HTTP01.write() {
            table.push((
                token.to_owned(),
                key_authorization.to_owned(),
                domain.to_owned(),
            ));
            PENDING.fetch_add(1, Ordering::Release);
        }
        Answering {
            http01_token: Some(token.to_owned()),
            alpn_domain: None,
        }
    }

    pub fn tls_alpn01(domain: &str, certificate: Arc<CertifiedKey>) -> Self {
        if let Ok(mut table) = ALPN.write() {
            table.push((domain.to_owned(), certificate));
            PENDING.fetch_add(1, Ordering::Release);
        }
        Answering {
            http01_token: None,
            alpn_domain: Some(domain.to_owned()),
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        if let Some(token) = &self.http01_token {
            if let Ok(mut table) = HTTP01.write() {
                if let Some(at) = table.iter().position(|(t, _, _)| t == token) {
                    table.remove(at);
                    PENDING.fetch_sub(1, Ordering::Release);
                }
            }
        }
        if let Some(domain) = &self.alpn_domain {
            if let Ok(mut table) = ALPN.write() {
                // Only the first: another order may answer for the same name.
                if let Some(at) = table.iter().position(|(d, _)| d == domain) {
                    table.remove(at);
                    PENDING.fetch_sub(1, Ordering::Release);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "unit-test-token";

    fn ask(method: &str, host: &str) -> Option<Vec<u8>> {
        let path = [HTTP01_PREFIX, TOKEN.as_bytes()].concat();
        let name = crate::route::host::host_name(host.as_bytes());
        http01_response(method, || name, &path, "")
    }

    #[test]
    fn http01_is_answered_to_get_and_head_for_the_tokens_domain_only() {
        let _answering = Answering::http01("site.test", TOKEN, "key-auth");
        let get = ask("GET", "site.test").expect("GET answered");
        assert!(get.ends_with(b"\r\n\r\nkey-auth"), "{get:?}");
        let head = ask("HEAD", "Site.Test:80").expect("HEAD answered");
        assert!(head.ends_with(b"\r\n\r\n"), "{head:?}");
        assert!(ask("GET", "SITE.TEST.:8080").is_some());
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            assert_eq!(ask(method, "site.test"), None, "{method}");
        }
        for host in ["other.test", "", "127.0.0.1", "[::1]:80", "site.test.evil"] {
            assert_eq!(ask("GET", host), None, "{host}");
        }
    }
}
