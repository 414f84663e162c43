//! The path routes are matched in: the request's path in canonical form.
//!
//! Routes that refuse or steer by path (`respond` on `/admin`, a
//! `path_regex`, a prefix rewritten to `upstream_prefix`) must see the path
//! the application will act on, not one of its many spellings: `//admin`,
//! `/./admin`, `/x/../admin`, `/%61dmin` and `/admin%2F` all name
//! `/admin` to most applications, and a route matched against the raw bytes
//! would let each of them past a rule written for `/admin`. nginx matches
//! its locations against a normalised URI for the same reason. The
//! canonical form (RFC 3986 §6.2.2):
//!
//! - percent-encoded unreserved characters and `/` decoded (`%61` is `a`,
//!   `%2F` is a separator, as nginx has it); every other escape kept, its
//!   hex digits in upper case, so the path stays a valid encoded one (a
//!   static route decodes it once, an upstream receives it as is);
//! - runs of `/` merged into one (nginx's `merge_slashes`);
//! - `.` and `..` segments removed (§5.2.4).
//!
//! A path that climbs above the root, a malformed escape, a fragment
//! (`#`, which a request target can't carry, RFC 9112 §3.2) or a dot
//! segment dressed in `;` parameters (`/x/..;/admin`, which Java servers
//! resolve to `/admin`: `hides_a_dot_segment`) is refused: the application
//! and tern could read it differently. A path already in
//! canonical form, nearly every one, is borrowed as it is.
//!
//! Requests are forwarded with the target the client sent unless a route
//! rewrites the path; a rewrite starts from the canonical form.

use std::borrow::Cow;

use super::hex_value;

/// Why a path was refused (the client gets 400).
pub type PathError = &'static str;

/// `path` (the target up to its query) in canonical form.
pub fn canonical(path: &[u8]) -> Result<Cow<'_, [u8]>, PathError> {
    if memchr::memchr(b'#', path).is_some() {
        return Err("fragment in the request target");
    }
    if !path.starts_with(b"/") || is_canonical(path) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path)?;
    remove_dot_segments(&decoded).map(Cow::Owned)
}

/// Every escape one that stays (upper-case, not of an unreserved character
/// or `/`), no empty segment but a last one, no `.` or `..` segment.
fn is_canonical(path: &[u8]) -> bool {
    // Whether the path has a `;`, written as it is or as `%3B` (one look at
    // the escapes for both questions: this runs on every request).
    let mut params = memchr::memchr(b';', path).is_some();
    for at in memchr::memchr_iter(b'%', path) {
        match escape_at(path, at) {
            Some((value, true)) if !stays_decoded(value) => params |= value == b';',
            _ => return false,
        }
    }
    let mut segments = path[1..].split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if matches!(segment, b"." | b"..") || (segment.is_empty() && !last) {
            return false;
        }
        if params && hides_a_dot_segment(segment, last) {
            return false;
        }
    }
    true
}

/// Whether `segment` is a dot segment, or an empty one, behind `;`
/// parameters: Tomcat, Jetty and Spring drop a segment's parameters before
/// they resolve dot segments, so `/x/..;/admin` is their `/admin` and
/// `/;/admin` their `//admin`, while to tern (RFC 3986) `..;` is a name and
/// a rule for `/admin` would not hold. `%3B` counts as `;` (some decode it
/// first). A last empty one stays: `/app/;jsessionid=1` is a session id on
/// `/app/`.
fn hides_a_dot_segment(segment: &[u8], last: bool) -> bool {
    let plain = memchr::memchr(b';', segment);
    let escaped = memchr::memchr_iter(b'%', segment)
        .find(|&at| matches!(escape_at(segment, at), Some((b';', _))));
    let Some(name_end) = plain.into_iter().chain(escaped).min() else {
        return false;
    };
    match &segment[..name_end] {
        b"." | b".." => true,
        b"" => !last,
        _ => false,
    }
}

/// Decodes escapes of unreserved characters and `/`; upper-cases the rest.
fn decode_unreserved(path: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(path.len());
    let mut at = 0;
    while at < path.len() {
        let byte = path[at];
        if byte != b'%' {
            out.push(byte);
            at += 1;
            continue;
        }
        let Some((decoded, _)) = escape_at(path, at) else {
            return Err("malformed percent-encoding in the path");
        };
        if stays_decoded(decoded) {
            out.push(decoded);
        } else {
            let escape = [b'%', path[at + 1], path[at + 2]];
            out.extend_from_slice(&escape.map(|b| b.to_ascii_uppercase()));
        }
        at += 3;
    }
    Ok(out)
}

/// An unreserved character or `/`: what an escape of it means, it says.
fn stays_decoded(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/')
}

/// What the escape at `at` (a `%`) stands for, and whether its digits are
/// written in upper case; `None` when it is malformed.
fn escape_at(path: &[u8], at: usize) -> Option<(u8, bool)> {
    let (&high, &low) = (path.get(at + 1)?, path.get(at + 2)?);
    let value = (hex_value(high)? << 4) | hex_value(low)?;
    Some((
        value,
        !high.is_ascii_lowercase() && !low.is_ascii_lowercase(),
    ))
}

/// Merges runs of `/` and resolves `.` and `..` segments of an absolute
/// path; a trailing `/`, or a last `.` or `..`, leaves the result ending in
/// `/` as RFC 3986 §5.2.4 does.
fn remove_dot_segments(path: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut ends_in_slash = false;
    let mut segments = path[1..].split(|&b| b == b'/').peekable();
    while let Some(segment) = segments.next() {
        if hides_a_dot_segment(segment, segments.peek().is_none()) {
            return Err("a dot segment behind `;` parameters (Java servers resolve it)");
        }
        ends_in_slash = matches!(segment, b"" | b"." | b"..");
        match segment {
            b"" | b"." => {}
            b".." => {
                kept.pop().ok_or("the path climbs above the root")?;
            }
            segment => kept.push(segment),
        }
    }
    let mut out = Vec::with_capacity(path.len());
    for segment in &kept {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if ends_in_slash || out.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::canonical;

    fn canon(path: &str) -> Result<String, &'static str> {
        canonical(path.as_bytes()).map(|c| String::from_utf8_lossy(&c).into_owned())
    }

    #[test]
    fn canonical_paths_are_borrowed_as_they_are() {
        for path in [
            "/",
            "/admin",
            "/a/b/",
            "/.well-known/x",
            "/a.b/c..d",
            "*",
            "/a%20b/%C3%A9",
        ] {
            let got = canonical(path.as_bytes()).expect("canonical");
            assert!(matches!(got, std::borrow::Cow::Borrowed(_)), "{path}");
            assert_eq!(got.as_ref(), path.as_bytes());
        }
    }

    #[test]
    fn every_spelling_of_a_path_becomes_that_path() {
        for path in [
            "//admin/users",
            "/./admin/users",
            "/x/../admin/users",
            "/%61dmin/users",
            "/%2e/admin/users",
            "/x/%2E%2E/admin/users",
            "/admin%2fusers",
            "/admin%2Fusers",
            "/admin//users",
            "/admin/users/.",
        ] {
            let want = if path.ends_with('.') {
                "/admin/users/"
            } else {
                "/admin/users"
            };
            assert_eq!(canon(path).as_deref(), Ok(want), "{path}");
        }
    }

    #[test]
    fn other_escapes_stay_escaped_in_upper_case() {
        assert_eq!(canon("/a%20b/%c3%a9").as_deref(), Ok("/a%20b/%C3%A9"));
        assert_eq!(canon("/q%3fx%23y%25").as_deref(), Ok("/q%3Fx%23y%25"));
        assert_eq!(canon("/nul%00").as_deref(), Ok("/nul%00"));
    }

    #[test]
    fn trailing_slashes_and_dot_segments_end_as_rfc_3986_says() {
        assert_eq!(canon("/a/b/..").as_deref(), Ok("/a/"));
        assert_eq!(canon("/a/b/../").as_deref(), Ok("/a/"));
        assert_eq!(canon("/a/..").as_deref(), Ok("/"));
        assert_eq!(canon("/a//").as_deref(), Ok("/a/"));
        assert_eq!(canon("//").as_deref(), Ok("/"));
    }

    #[test]
    fn paths_that_can_be_read_two_ways_are_refused() {
        for path in [
            "/..",
            "/a/../..",
            "/%2e%2e/etc",
            "/a/../../b",
            "/bad%zz",
            "/end%",
            "/end%4",
            "/admin#x",
        ] {
            assert!(canon(path).is_err(), "{path}");
        }
    }

    #[test]
    fn dot_segments_behind_java_parameters_are_refused() {
        for path in [
            "/x/..;/admin",
            "/x/..;jsessionid=1/admin",
            "/x/%2e%2e;/admin",
            "/x/..%3b/admin",
            "/x/..%3B/admin",
            "/.;/admin",
            "/;/admin",
            "/x/;x/admin",
            "/admin/.;x",
        ] {
            assert!(canon(path).is_err(), "{path}");
        }
        // Parameters on a named segment, or on a last empty one (a session
        // id on a directory), are the application's.
        for path in [
            "/app;jsessionid=1",
            "/;jsessionid=1",
            "/app/;jsessionid=1",
            "/a;b/c",
            "/a..;/b",
            "/a%3Bb",
        ] {
            assert_eq!(canon(path).as_deref(), Ok(path), "{path}");
        }
    }
}
