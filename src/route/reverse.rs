//! Reverse rewriting of response fields (Apache's ProxyPassReverse,
//! ProxyPassReverseCookieDomain and ProxyPassReverseCookiePath): URLs and
//! cookies that name the upstream are made to name the public side.

use super::host::host_name;
use super::path::{PathPrefix, PathRewrite};

#[derive(Debug, Clone)]
pub struct Reverse {
    /// Upstream authorities (`host:port`, lowercase) whose absolute URLs
    /// are rewritten: every server of the backend and the upstream Host.
    pub authorities: Vec<String>,
    /// `Domain` rewrites, from (lowercase) to public; an upstream host
    /// without an explicit entry becomes the request's host.
    pub cookie_domains: Vec<(String, String)>,
}

/// The public side of the exchange, as the client sees it.
pub struct Public<'a> {
    pub scheme: &'a str,
    /// The request's host, port included.
    pub host: &'a [u8],
    pub rewrite: Option<&'a PathRewrite>,
}

impl Reverse {
    /// `Location` and `Content-Location`: `Some` when the value changes.
    pub fn url(&self, value: &[u8], public: &Public) -> Option<Vec<u8>> {
        if let Some((authority, rest)) = split_absolute(value) {
            let lower = authority.to_ascii_lowercase();
            if !self.authorities.iter().any(|a| a.as_bytes() == lower) {
                return None;
            }
            let mut out = Vec::with_capacity(value.len() + public.host.len());
            out.extend_from_slice(public.scheme.as_bytes());
            out.extend_from_slice(b"://");
            out.extend_from_slice(public.host);
            let path = reverse_path(rest, public.rewrite);
            out.extend_from_slice(path.as_deref().unwrap_or(rest));
            return Some(out);
        }
        if value.starts_with(b"/") && !value.starts_with(b"//") {
            return reverse_path(value, public.rewrite);
        }
        None
    }

    /// `Refresh: 5; url=...`.
    pub fn refresh(&self, value: &[u8], public: &Public) -> Option<Vec<u8>> {
        let lower = value.to_ascii_lowercase();
        let at = memchr::memmem::find(&lower, b"url=")? + 4;
        let url = value[at..].trim_ascii();
        let unquoted = url.strip_prefix(b"'").and_then(|u| u.strip_suffix(b"'"));
        let new = self.url(unquoted.unwrap_or(url), public)?;
        let mut out = value[..at].to_vec();
        out.extend_from_slice(&new);
        Some(out)
    }

    /// `Set-Cookie`: its `Domain` and `Path` attributes.
    pub fn set_cookie(&self, value: &[u8], public: &Public) -> Option<Vec<u8>> {
        let mut changed = false;
        let mut out = Vec::with_capacity(value.len() + 16);
        for (i, part) in value.split(|&b| b == b';').enumerate() {
            if i > 0 {
                out.push(b';');
            }
            let attribute = part.trim_ascii_start();
            let lead = &part[..part.len() - attribute.len()];
            let new = match attribute_value(attribute, b"domain=") {
                Some(domain) if i > 0 => self.domain(domain, public),
                _ => match attribute_value(attribute, b"path=") {
                    Some(path) if i > 0 => cookie_path(path, public.rewrite),
                    _ => None,
                },
            };
            out.extend_from_slice(lead);
            match new {
                Some(new) => {
                    changed = true;
                    out.extend_from_slice(
                        &attribute[..attribute
                            .iter()
                            .position(|&b| b == b'=')
                            .map_or(0, |e| e + 1)],
                    );
                    out.extend_from_slice(&new);
                }
                None => out.extend_from_slice(attribute),
            }
        }
        changed.then_some(out)
    }

    fn domain(&self, domain: &[u8], public: &Public) -> Option<Vec<u8>> {
        let bare = domain
            .strip_prefix(b".")
            .unwrap_or(domain)
            .to_ascii_lowercase();
        if let Some((_, to)) = self
            .cookie_domains
            .iter()
            .find(|(from, _)| from.as_bytes() == bare)
        {
            return Some(to.as_bytes().to_vec());
        }
        let upstream = self
            .authorities
            .iter()
            .any(|a| host_name(a.as_bytes()) == bare.as_slice());
        upstream.then(|| host_name(public.host).to_vec())
    }
}

/// `http://authority/rest` → (authority, rest); rest may be empty.
fn split_absolute(value: &[u8]) -> Option<(&[u8], &[u8])> {
    let lower_start: Vec<u8> = value.iter().take(8).map(u8::to_ascii_lowercase).collect();
    let skip = if lower_start.starts_with(b"http://") {
        7
    } else if lower_start.starts_with(b"https://") {
        8
    } else {
        return None;
    };
    let rest = &value[skip..];
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    Some((&rest[..end], &rest[end..]))
}

/// The public path for an upstream path (query and fragment kept).
fn reverse_path(path_and_more: &[u8], rewrite: Option<&PathRewrite>) -> Option<Vec<u8>> {
    let rewrite = rewrite?;
    let end = path_and_more
        .iter()
        .position(|&b| matches!(b, b'?' | b'#'))
        .unwrap_or(path_and_more.len());
    let path = if end == 0 {
        &b"/"[..]
    } else {
        &path_and_more[..end]
    };
    let mut out = rewrite.reverse(path)?;
    out.extend_from_slice(&path_and_more[end..]);
    Some(out)
}

fn cookie_path(path: &[u8], rewrite: Option<&PathRewrite>) -> Option<Vec<u8>> {
    let (upstream, public) = rewrite?.prefixes()?;
    let upstream = PathPrefix::new(if upstream.is_empty() { "/" } else { upstream }).ok()?;
    let rest = upstream.rest(path)?;
    Some(super::path::join(public.as_bytes(), rest))
}

fn attribute_value<'v>(attribute: &'v [u8], name: &[u8]) -> Option<&'v [u8]> {
    let head = attribute.get(..name.len())?;
    head.eq_ignore_ascii_case(name)
        .then(|| attribute[name.len()..].trim_ascii())
}

#[cfg(test)]
mod tests;
