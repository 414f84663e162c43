//! Paths: prefixes matched on segment boundaries, and the path sent
//! upstream when a route rewrites it (ProxyPass "/app" "http://h/other",
//! ProxyPassMatch "^(/.*)$" "balancer://c$1").

use regex::bytes::Regex;

/// A path prefix matched on segment boundaries: `/app` matches `/app` and
/// `/app/x` but not `/apple`, as a user expects; `/app/` matches `/app/x` only.
/// A `;` ends a segment's name too (`/app;jsessionid=1`): Java servers read
/// what follows as the segment's parameters, so `/admin;/users` is their
/// `/admin/users`, and a rule for `/admin` must hold there.
#[derive(Debug, Clone)]
pub struct PathPrefix(String);

impl PathPrefix {
    pub fn new(prefix: &str) -> Result<PathPrefix, String> {
        if !prefix.starts_with('/') {
            return Err(format!("{prefix:?} must start with '/'"));
        }
        // Requests are matched in canonical form (`http::path`): a prefix
        // in another would never match, or match what it doesn't say.
        match crate::http::path::canonical(prefix.as_bytes()) {
            Ok(canon) if *canon == *prefix.as_bytes() => Ok(PathPrefix(prefix.to_owned())),
            Ok(canon) => Err(format!(
                "{prefix:?} is matched as {:?}: write that",
                String::from_utf8_lossy(&canon)
            )),
            Err(problem) => Err(format!("{prefix:?}: {problem}")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, path: &[u8]) -> bool {
        self.rest(path).is_some()
    }

    /// What follows the prefix in `path`, when it matches.
    pub fn rest<'p>(&self, path: &'p [u8]) -> Option<&'p [u8]> {
        let prefix = self.0.as_bytes();
        let rest = path.strip_prefix(prefix)?;
        let boundary = matches!(rest.first(), None | Some(b'/' | b';'));
        (prefix.ends_with(b"/") || boundary).then_some(rest)
    }
}

/// How a route changes the path it sends upstream.
#[derive(Debug, Clone)]
pub enum PathRewrite {
    /// The matched public prefix becomes `upstream` (may be "" or "/": strip).
    Prefix {
        public: PathPrefix,
        upstream: String,
    },
    /// The path becomes `template` with `$1`, `${name}` from `regex`'s captures.
    Regex { regex: Regex, template: String },
}

impl PathRewrite {
    /// The origin-form target to send upstream: the rewritten path and the
    /// original query. `None` when the path does not match (then unchanged).
    pub fn target(&self, path: &[u8], query: &[u8]) -> Option<Vec<u8>> {
        let mut out = match self {
            PathRewrite::Prefix { public, upstream } => {
                join(upstream.as_bytes(), public.rest(path)?)
            }
            PathRewrite::Regex { regex, template } => {
                let captures = regex.captures(path)?;
                let mut out = Vec::new();
                captures.expand(template.as_bytes(), &mut out);
                if !out.starts_with(b"/") {
                    out.insert(0, b'/');
                }
                out
            }
        };
        out.extend_from_slice(query);
        Some(out)
    }

    /// The public path for an upstream path, for reverse rewriting: only a
    /// prefix rewrite can be undone; `None` when `path` is not below it.
    pub fn reverse(&self, path: &[u8]) -> Option<Vec<u8>> {
        match self {
            PathRewrite::Prefix { public, upstream } => {
                let upstream = PathPrefix::new(&join_str(upstream)).ok()?;
                let rest = upstream.rest(path)?;
                Some(join(public.as_str().as_bytes(), rest))
            }
            PathRewrite::Regex { .. } => None,
        }
    }

    /// The upstream prefix and its public counterpart, for cookie paths.
    pub fn prefixes(&self) -> Option<(&str, &str)> {
        match self {
            PathRewrite::Prefix { public, upstream } => Some((upstream, public.as_str())),
            PathRewrite::Regex { .. } => None,
        }
    }
}

/// An upstream prefix as a matchable prefix: "" means the root.
fn join_str(prefix: &str) -> String {
    if prefix.is_empty() {
        "/".to_owned()
    } else {
        prefix.to_owned()
    }
}

/// `base` followed by `rest` with exactly one '/' between them where either
/// side has one (or where `rest` continues below a prefix ending in '/').
pub fn join(base: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(base.len() + rest.len() + 1);
    out.extend_from_slice(base.strip_suffix(b"/").unwrap_or(base));
    let base_had_slash = base.ends_with(b"/");
    match rest {
        [] if base_had_slash || out.is_empty() => out.push(b'/'),
        [] => {}
        [b'/', ..] => out.extend_from_slice(rest),
        // The prefix's last segment's parameters stay on it.
        [b';', ..] if !base_had_slash => out.extend_from_slice(rest),
        _ => {
            out.push(b'/');
            out.extend_from_slice(rest);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(p: &str) -> PathPrefix {
        PathPrefix::new(p).expect("valid prefix")
    }

    fn rewrite(public: &str, upstream: &str) -> PathRewrite {
        PathRewrite::Prefix {
            public: prefix(public),
            upstream: upstream.into(),
        }
    }

    fn text(bytes: Option<Vec<u8>>) -> Option<String> {
        bytes.map(|b| String::from_utf8(b).expect("utf-8"))
    }

    #[test]
    fn prefix_matches_on_segment_boundaries() {
        let app = prefix("/app");
        assert!(app.matches(b"/app"));
        assert!(app.matches(b"/app/"));
        assert!(app.matches(b"/app/x/y"));
        assert!(!app.matches(b"/apple"));
        assert!(!app.matches(b"/ap"));
        assert!(!app.matches(b"/other/app"));
    }

    #[test]
    fn a_semicolon_ends_the_prefix_s_segment_and_stays_on_it_when_rewritten() {
        let app = prefix("/app");
        assert!(app.matches(b"/app;jsessionid=1"));
        assert!(app.matches(b"/app;/x"));
        let moved = rewrite("/app", "/inner");
        assert_eq!(
            text(moved.target(b"/app;v=1/x", b"")).as_deref(),
            Some("/inner;v=1/x")
        );
    }

    #[test]
    fn prefix_with_trailing_slash_needs_the_slash() {
        let stat = prefix("/static/");
        assert!(stat.matches(b"/static/a.css"));
        assert!(!stat.matches(b"/static"));
        assert!(prefix("/").matches(b"/anything"));
    }

    #[test]
    fn prefix_must_be_absolute() {
        assert!(PathPrefix::new("app").is_err());
        assert!(PathPrefix::new("/a//b").is_err());
        assert!(PathPrefix::new("/%61pp").is_err());
        assert!(PathPrefix::new("/caf%c3%a9").is_err());
        assert!(PathPrefix::new("/caf%C3%A9").is_ok());
    }

    #[test]
    fn prefix_is_replaced_keeping_the_rest_and_the_query() {
        let r = rewrite("/app", "/other");
        assert_eq!(
            text(r.target(b"/app/x", b"?q=1")).as_deref(),
            Some("/other/x?q=1")
        );
        assert_eq!(text(r.target(b"/app", b"")).as_deref(), Some("/other"));
        assert_eq!(r.target(b"/apple", b""), None);
    }

    #[test]
    fn prefix_is_stripped_to_the_root() {
        for to in ["", "/"] {
            let r = rewrite("/api", to);
            assert_eq!(text(r.target(b"/api/v1", b"")).as_deref(), Some("/v1"));
            assert_eq!(text(r.target(b"/api", b"")).as_deref(), Some("/"));
        }
        let r = rewrite("/static/", "/files/");
        assert_eq!(
            text(r.target(b"/static/a.css", b"")).as_deref(),
            Some("/files/a.css")
        );
    }

    #[test]
    fn regex_captures_fill_the_template() {
        let r = PathRewrite::Regex {
            regex: Regex::new("^/u/([^/]+)/(.*)$").expect("regex"),
            template: "/users/$1/${2}".into(),
        };
        assert_eq!(
            text(r.target(b"/u/ann/photos", b"?a")).as_deref(),
            Some("/users/ann/photos?a")
        );
        let identity = PathRewrite::Regex {
            regex: Regex::new("^(/.*)$").expect("regex"),
            template: "$1".into(),
        };
        assert_eq!(text(identity.target(b"/foo", b"")).as_deref(), Some("/foo"));
    }

    #[test]
    fn reverse_maps_upstream_paths_back_to_the_public_prefix() {
        let r = rewrite("/app", "/other");
        assert_eq!(
            text(r.reverse(b"/other/login")).as_deref(),
            Some("/app/login")
        );
        assert_eq!(text(r.reverse(b"/other")).as_deref(), Some("/app"));
        assert_eq!(r.reverse(b"/elsewhere"), None);
        let stripped = rewrite("/api", "");
        assert_eq!(
            text(stripped.reverse(b"/v1/x")).as_deref(),
            Some("/api/v1/x")
        );
    }
}
