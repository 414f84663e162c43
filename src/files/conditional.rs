//! Validators and conditional requests (RFC 9110 §8.8, §13): the ETag is
//! made from the file's mtime and size, as nginx does, so it changes when
//! the file does without reading it.

use std::fmt::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httparse::Header;

use crate::http::headers::list_tokens;

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// A strong entity tag, quotes included.
    pub etag: String,
    /// Whole seconds, as HTTP dates carry no more.
    pub modified_secs: u64,
}

impl Validators {
    pub fn of(size: u64, modified: SystemTime) -> Validators {
        let since_epoch = modified
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let secs = since_epoch.as_secs();
        let nanos = since_epoch.subsec_nanos();
        // Sized for the longest tag (two u64s and a u32 in hex, quotes,
        // separators), so it is written without growing: this runs on
        // every static response.
        let mut etag = String::with_capacity(48);
        // Writing into a String can't fail.
        let _ = write!(etag, "\"{secs:x}.{nanos:x}-{size:x}\"");
        Validators {
            etag,
            modified_secs: secs,
        }
    }

    pub fn last_modified(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.modified_secs)
    }
}

/// Whether a precondition fails, for a 412 (RFC 9110 §13.2.2, steps 1 and
/// 2, before the 304 and the range are looked at): `If-Match` decides
/// when present (strong comparison, `*` matches the file there is), else
/// `If-Unmodified-Since` (one that isn't a date is ignored). A client
/// that asks for a range "only if the file is still the one I have" must
/// not get a slice of another.
pub fn precondition_fails(headers: &[Header], validators: &Validators) -> bool {
    let mut saw_if_match = false;
    let mut if_unmodified_since = None;
    for field in headers {
        if field.name.eq_ignore_ascii_case("if-match") {
            saw_if_match = true;
            let strong = |tag: &[u8]| tag == b"*" || tag == validators.etag.as_bytes();
            if list_tokens(field.value).any(strong) {
                return false;
            }
        } else if field.name.eq_ignore_ascii_case("if-unmodified-since") {
            if_unmodified_since = Some(field.value);
        }
    }
    if saw_if_match {
        return true;
    }
    if_unmodified_since
        .and_then(parse_date)
        .is_some_and(|since| validators.modified_secs > since)
}

/// Whether a GET or HEAD gets 304: `If-None-Match` decides when present
/// (weak comparison, `*` matches), else `If-Modified-Since`.
pub fn not_modified(headers: &[Header], validators: &Validators) -> bool {
    let mut saw_if_none_match = false;
    let mut if_modified_since = None;
    for field in headers {
        if field.name.eq_ignore_ascii_case("if-none-match") {
            saw_if_none_match = true;
            if list_tokens(field.value).any(|tag| weak_match(tag, &validators.etag)) {
                return true;
            }
        } else if field.name.eq_ignore_ascii_case("if-modified-since") {
            if_modified_since = Some(field.value);
        }
    }
    if saw_if_none_match {
        return false;
    }
    if_modified_since
        .and_then(parse_date)
        .is_some_and(|since| validators.modified_secs <= since)
}

/// `If-Range`: the range applies only to the version the client has. An
/// entity tag must match strongly; a date must be the exact Last-Modified.
pub fn range_applies(if_range: Option<&[u8]>, validators: &Validators) -> bool {
    let Some(value) = if_range.map(<[u8]>::trim_ascii) else {
        return true;
    };
    if value.starts_with(b"\"") {
        return value == validators.etag.as_bytes();
    }
    if value.starts_with(b"W/") {
        return false;
    }
    parse_date(value) == Some(validators.modified_secs)
}

/// `*` or an entity tag equal to ours once any `W/` is ignored.
fn weak_match(tag: &[u8], etag: &str) -> bool {
    tag == b"*" || tag.strip_prefix(b"W/").unwrap_or(tag) == etag.as_bytes()
}

/// Seconds since the epoch of an HTTP date in any of its three formats.
fn parse_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let time = httpdate::parse_http_date(text.trim()).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(name: &'a str, value: &'a str) -> Header<'a> {
        Header {
            name,
            value: value.as_bytes(),
        }
    }

    fn file() -> Validators {
        // 2023-11-14T22:13:20Z
        Validators::of(1234, UNIX_EPOCH + Duration::from_secs(1_700_000_000))
    }

    #[test]
    fn if_match_compares_strongly_and_if_unmodified_since_only_without_it() {
        let etag = file().etag;
        let fails = |fields: &[Header]| precondition_fails(fields, &file());
        assert!(!fails(&[]));
        assert!(!fails(&[field("If-Match", &etag)]));
        assert!(!fails(&[field("If-Match", &format!("\"x\", {etag}"))]));
        assert!(!fails(&[field("If-Match", "*")]));
        assert!(fails(&[field("If-Match", "\"not-the-etag\"")]));
        assert!(fails(&[field("If-Match", &format!("W/{etag}"))]));
        // Modified after the date: fails; at or before it, or no date: passes.
        assert!(fails(&[field(
            "If-Unmodified-Since",
            "Thu, 01 Jan 1970 00:00:01 GMT"
        )]));
        assert!(!fails(&[field(
            "If-Unmodified-Since",
            "Tue, 14 Nov 2023 22:13:20 GMT"
        )]));
        assert!(!fails(&[field("If-Unmodified-Since", "yesterday")]));
        // If-Match, when present, is what decides.
        let both = [
            field("If-Match", &etag),
            field("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:01 GMT"),
        ];
        assert!(!fails(&both));
    }

    #[test]
    fn etag_changes_with_size_and_mtime() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(file().etag, "\"6553f100.0-4d2\"");
        assert_ne!(Validators::of(1235, at).etag, file().etag);
        let later = at + Duration::from_nanos(1);
        assert_ne!(Validators::of(1234, later).etag, file().etag);
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let v = file();
        let listed = format!("\"other\", W/{}", v.etag);
        assert!(not_modified(&[field("If-None-Match", &listed)], &v));
        assert!(not_modified(&[field("if-none-match", "*")], &v));
        assert!(!not_modified(&[field("If-None-Match", "\"other\"")], &v));
    }

    #[test]
    fn if_none_match_overrides_if_modified_since() {
        let v = file();
        let fields = [
            field("If-None-Match", "\"other\""),
            field("If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ];
        assert!(!not_modified(&fields, &v));
    }

    #[test]
    fn if_modified_since_compares_seconds() {
        let v = file();
        let same = [field("If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT")];
        let before = [field("If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT")];
        let garbage = [field("If-Modified-Since", "yesterday")];
        assert!(not_modified(&same, &v));
        assert!(!not_modified(&before, &v));
        assert!(!not_modified(&garbage, &v));
    }

    #[test]
    fn if_range_needs_a_strong_match_or_the_exact_date() {
        let v = file();
        assert!(range_applies(None, &v));
        assert!(range_applies(Some(v.etag.as_bytes()), &v));
        assert!(!range_applies(Some(b"\"other\""), &v));
        let weak = format!("W/{}", v.etag);
        assert!(!range_applies(Some(weak.as_bytes()), &v));
        assert!(range_applies(Some(b"Tue, 14 Nov 2023 22:13:20 GMT"), &v));
        assert!(!range_applies(Some(b"Tue, 14 Nov 2023 22:13:21 GMT"), &v));
    }
}
