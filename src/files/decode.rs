//! From the part of the URL path after the route's prefix to a path
//! relative to the root, refusing everything that could name a file outside
//! it before the filesystem is asked anything.
//!
//! Each segment is percent-decoded on its own, so an encoded slash can't
//! join two segments into one that passes the checks; `..` in any spelling
//! (`..`, `%2e%2e`, `.%2E`), an encoded slash or backslash, a raw backslash
//! and NUL are refused. `.` and empty segments are dropped, as a browser would.

use std::borrow::Cow;

use super::deny::Deny;
use crate::http::hex_value;

/// The path under the root, ready for `openat2`: segments joined by '/',
/// without a leading one; empty for the root itself.
pub fn relative_path(url_path: &[u8]) -> Result<Vec<u8>, Deny> {
    let mut path = Vec::with_capacity(url_path.len());
    for raw in url_path.split(|&b| b == b'/') {
        let segment = decode_segment(raw)?;
        check_segment(&segment)?;
        if segment.is_empty() || *segment == *b"." {
            continue;
        }
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&segment);
    }
    Ok(path)
}

fn check_segment(segment: &[u8]) -> Result<(), Deny> {
    if segment == b".." {
        return Err(Deny::Forbidden("dot-dot segment"));
    }
    if segment.contains(&b'/') {
        return Err(Deny::Forbidden("encoded slash"));
    }
    if segment.contains(&b'\\') {
        return Err(Deny::Forbidden("backslash"));
    }
    if segment.contains(&0) {
        return Err(Deny::Forbidden("NUL"));
    }
    Ok(())
}

/// Percent-decodes one segment; a '%' not followed by two hex digits is a
/// malformed URL. Most segments have no '%' and are borrowed as they are.
fn decode_segment(raw: &[u8]) -> Result<Cow<'_, [u8]>, Deny> {
    if memchr::memchr(b'%', raw).is_none() {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&byte, tail)) = rest.split_first() {
        if byte != b'%' {
            out.push(byte);
            rest = tail;
            continue;
        }
        let (high, low) = match tail {
            [high, low, ..] => (hex_value(*high), hex_value(*low)),
            _ => (None, None),
        };
        let (Some(high), Some(low)) = (high, low) else {
            return Err(Deny::BadRequest("malformed percent-encoding"));
        };
        out.push(high << 4 | low);
        rest = &tail[2..];
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(url: &str) -> String {
        let rel = relative_path(url.as_bytes()).expect("allowed");
        String::from_utf8(rel).expect("utf-8")
    }

    fn refused(url: &str) -> Deny {
        relative_path(url.as_bytes()).expect_err("refused")
    }

    #[test]
    fn plain_paths_resolve_to_their_segments() {
        assert_eq!(resolved("/a/b.css"), "a/b.css");
        assert_eq!(resolved("a.css"), "a.css");
        assert_eq!(resolved(""), "");
        assert_eq!(resolved("/"), "");
    }

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(resolved("/my%20file.txt"), "my file.txt");
        assert_eq!(resolved("/%C3%A9t%c3%a9"), "été");
    }

    #[test]
    fn single_dots_and_empty_segments_are_dropped() {
        assert_eq!(resolved("/./a//b/%2e/c"), "a/b/c");
    }

    #[test]
    fn dot_dot_in_every_spelling_is_forbidden() {
        for url in [
            "/../x",
            "/a/../../x",
            "/%2e%2e/x",
            "/.%2E/x",
            "/%2E./x",
            "/a/..",
        ] {
            assert_eq!(refused(url), Deny::Forbidden("dot-dot segment"), "{url}");
        }
    }

    #[test]
    fn dots_inside_names_are_allowed() {
        assert_eq!(resolved("/a..b/..."), "a..b/...");
    }

    #[test]
    fn encoded_slashes_and_backslashes_are_forbidden() {
        assert_eq!(refused("/a%2f..%2fx"), Deny::Forbidden("encoded slash"));
        assert_eq!(refused("/a%2Fb"), Deny::Forbidden("encoded slash"));
        assert_eq!(refused("/..%5cx"), Deny::Forbidden("backslash"));
        assert_eq!(refused("/a\\b"), Deny::Forbidden("backslash"));
    }

    #[test]
    fn nul_is_forbidden() {
        assert_eq!(refused("/a%00.txt"), Deny::Forbidden("NUL"));
    }

    #[test]
    fn malformed_escapes_are_bad_requests() {
        for url in ["/a%", "/a%2", "/a%zz", "/%%41"] {
            assert!(matches!(refused(url), Deny::BadRequest(_)), "{url}");
        }
    }
}
