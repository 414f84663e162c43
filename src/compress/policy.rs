//! A route's `compress` settings, checked: which codings (in the route's
//! order of preference), which media types, from what length, how hard.

/// A content coding tern produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Br,
    Gzip,
}

impl Coding {
    /// The token in `Content-Encoding` and `Accept-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    pub fn from_token(token: &str) -> Option<Coding> {
        match token {
            "br" => Some(Coding::Br),
            "gzip" => Some(Coding::Gzip),
            _ => None,
        }
    }
}

/// A coding and its level: what an encoder is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub coding: Coding,
    /// 1 (fastest) to 9: gzip's level; brotli's quality, up to
    /// `encoder::BROTLI_MAX_QUALITY`.
    pub level: u8,
}

/// One entry of `types`: `text/*` or a full `type/subtype`, lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypePattern {
    AnySubtype(String),
    Exact(String),
}

impl TypePattern {
    /// `None` when `text` is not `type/subtype` or `type/*`.
    pub fn parse(text: &str) -> Option<TypePattern> {
        let lower = text.trim().to_ascii_lowercase();
        let (kind, sub) = lower.split_once('/')?;
        let token = |s: &str| !s.is_empty() && s.bytes().all(crate::http::is_tchar);
        if !token(kind) || !token(sub) || kind == "*" {
            return None;
        }
        Some(match sub {
            "*" => TypePattern::AnySubtype(kind.to_owned()),
            _ => TypePattern::Exact(lower),
        })
    }

    /// `media`: the Content-Type's `type/subtype`, parameters removed.
    fn matches(&self, media: &[u8]) -> bool {
        match self {
            TypePattern::Exact(full) => media.eq_ignore_ascii_case(full.as_bytes()),
            TypePattern::AnySubtype(kind) => media
                .split(|&b| b == b'/')
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case(kind.as_bytes())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Preferred first: the route's order breaks ties between q-values.
    pub codings: Vec<Coding>,
    pub types: Vec<TypePattern>,
    /// Bodies of a known length below this go out as they are.
    pub min_length: u64,
    pub level: u8,
}

/// The defaults of `compress = true`: those of nginx's `gzip_types` plus
/// the usual text formats of the web.
pub const DEFAULT_TYPES: &[&str] = &[
    "text/*",
    "application/javascript",
    "application/json",
    "application/xml",
    "image/svg+xml",
];
pub const DEFAULT_MIN_LENGTH: u64 = 256;
/// nginx's `gzip_comp_level` and HAProxy's `tune.comp.maxlevel` default:
/// the fastest level, the right trade for an edge proxy.
pub const DEFAULT_LEVEL: u8 = 1;

impl Policy {
    pub fn encoding(&self, coding: Coding) -> Encoding {
        Encoding {
            coding,
            level: self.level,
        }
    }

    /// Whether a Content-Type value names a type this route compresses.
    pub fn compresses_type(&self, content_type: &[u8]) -> bool {
        let media = content_type
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        self.types.iter().any(|t| t.matches(media))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(types: &[&str]) -> Policy {
        Policy {
            codings: vec![Coding::Br, Coding::Gzip],
            types: types.iter().filter_map(|t| TypePattern::parse(t)).collect(),
            min_length: 256,
            level: 1,
        }
    }

    #[test]
    fn types_match_by_media_type_without_parameters() {
        let p = policy(DEFAULT_TYPES);
        assert!(p.compresses_type(b"text/html; charset=utf-8"));
        assert!(p.compresses_type(b"Text/Event-Stream"));
        assert!(p.compresses_type(b"application/JSON"));
        assert!(p.compresses_type(b" image/svg+xml "));
        assert!(!p.compresses_type(b"image/png"));
        assert!(!p.compresses_type(b"application/json-seq"));
        assert!(!p.compresses_type(b"textual/plain"));
        assert!(!p.compresses_type(b""));
    }

    #[test]
    fn patterns_must_be_media_types() {
        assert!(TypePattern::parse("text").is_none());
        assert!(TypePattern::parse("*/*").is_none());
        assert!(TypePattern::parse("text/ html").is_none());
        assert!(TypePattern::parse("/json").is_none());
    }
}
