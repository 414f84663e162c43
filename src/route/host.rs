//! Matching the request's host: exact names, `*.example.com` wildcards, and
//! HAProxy's `hdr_dom(host) -i` domain matching. Case-insensitive, port ignored.

/// One host pattern, stored lowercase.
#[derive(Debug, Clone)]
pub enum HostPattern {
    /// `example.com`: that name only.
    Exact(String),
    /// `*.example.com`: any name below `example.com` (one or more labels),
    /// not `example.com` itself. Stores `.example.com`.
    Wildcard(String),
    /// `hdr_dom`: the labels of `example.com` appear in the host as whole
    /// labels, anywhere: `example.com`, `www.example.com`,
    /// `example.com.cdn.net` all match; `myexample.com` does not.
    Domain(String),
}

impl HostPattern {
    /// Parses `host = "..."` entries: `*.name` is a wildcard, else exact.
    pub fn name(text: &str) -> Result<HostPattern, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("*.") {
            check_name(rest)?;
            return Ok(HostPattern::Wildcard(format!(".{rest}")));
        }
        check_name(&lower)?;
        Ok(HostPattern::Exact(lower))
    }

    pub fn domain(text: &str) -> Result<HostPattern, String> {
        let lower = text.to_ascii_lowercase();
        check_name(&lower)?;
        Ok(HostPattern::Domain(lower))
    }

    /// `host` is the name without its port (see [`host_name`]).
    pub fn matches(&self, host: &[u8]) -> bool {
        match self {
            HostPattern::Exact(name) => host.eq_ignore_ascii_case(name.as_bytes()),
            HostPattern::Wildcard(suffix) => {
                host.len() > suffix.len() && ends_with_ignore_case(host, suffix.as_bytes())
            }
            HostPattern::Domain(domain) => contains_labels(host, domain.as_bytes()),
        }
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && !name.contains('*')
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'[' | b']' | b':')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid host pattern {name:?}: expected a name such as \"example.com\" or \"*.example.com\""
        ))
    }
}

/// The host without its port: `Example.com:8080` → `Example.com`,
/// `[::1]:80` → `[::1]`. A trailing dot (absolute name) is dropped.
pub fn host_name(host: &[u8]) -> &[u8] {
    let name = if host.starts_with(b"[") {
        match memchr::memchr(b']', host) {
            Some(end) => &host[..=end],
            None => host,
        }
    } else {
        match memchr::memrchr(b':', host) {
            Some(colon) => &host[..colon],
            None => host,
        }
    };
    name.strip_suffix(b".").unwrap_or(name)
}

fn ends_with_ignore_case(hay: &[u8], suffix: &[u8]) -> bool {
    hay.len() >= suffix.len() && hay[hay.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// `domain` occurs in `host` starting and ending on label boundaries.
fn contains_labels(host: &[u8], domain: &[u8]) -> bool {
    if domain.len() > host.len() {
        return false;
    }
    (0..=host.len() - domain.len()).any(|start| {
        let end = start + domain.len();
        let starts_label = start == 0 || host[start - 1] == b'.';
        let ends_label = end == host.len() || host[end] == b'.';
        starts_label && ends_label && host[start..end].eq_ignore_ascii_case(domain)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(p: &str) -> HostPattern {
        HostPattern::name(p).expect("valid pattern")
    }

    #[test]
    fn exact_names_ignore_case() {
        let p = name("Example.com");
        assert!(p.matches(b"example.com"));
        assert!(p.matches(b"EXAMPLE.COM"));
        assert!(!p.matches(b"www.example.com"));
        assert!(!p.matches(b"example.co"));
    }

    #[test]
    fn wildcards_match_names_below_only() {
        let p = name("*.example.com");
        assert!(p.matches(b"www.example.com"));
        assert!(p.matches(b"a.b.Example.com"));
        assert!(!p.matches(b"example.com"));
        assert!(!p.matches(b"badexample.com"));
        assert!(!p.matches(b".example.com"));
    }

    #[test]
    fn domains_match_on_label_boundaries_like_hdr_dom() {
        let p = HostPattern::domain("notes.olivepeak.com").expect("valid");
        assert!(p.matches(b"notes.olivepeak.com"));
        assert!(p.matches(b"NOTES.olivepeak.com"));
        assert!(p.matches(b"www.notes.olivepeak.com"));
        assert!(p.matches(b"notes.olivepeak.com.example.net"));
        assert!(!p.matches(b"mynotes.olivepeak.com"));
        assert!(!p.matches(b"notes.olivepeak.community"));
        assert!(!p.matches(b"olivepeak.com"));
    }

    #[test]
    fn ports_and_trailing_dots_are_ignored() {
        assert_eq!(host_name(b"example.com:8080"), b"example.com");
        assert_eq!(host_name(b"example.com."), b"example.com");
        assert_eq!(host_name(b"[::1]:80"), b"[::1]");
        assert_eq!(host_name(b"[::1]"), b"[::1]");
        assert_eq!(host_name(b"plain"), b"plain");
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(HostPattern::name("").is_err());
        assert!(HostPattern::name("a.*.com").is_err());
        assert!(HostPattern::name("a b").is_err());
        assert!(HostPattern::domain("*.x").is_err());
    }
}
