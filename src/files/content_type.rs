//! A file's `Content-Type`, by its extension (`mime_guess`'s table). Each
//! worker remembers the types of the last extensions it served: the table's
//! case-insensitive binary search cost more than the rest of choosing a
//! static response's fields (about 5% of tern's user time on a 1 KiB file),
//! and a site serves few extensions.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What a file with no extension, or one the table lacks, is sent as.
const UNKNOWN: &str = "application/octet-stream";
/// Extensions remembered per worker: a longer scan would cost what the
/// memo saves.
const REMEMBERED: usize = 16;
/// Longer extensions are looked up each time rather than remembered.
const MAX_REMEMBERED_LEN: usize = 16;

/// (extension as requested, its type), oldest first.
type Recent = Vec<(Box<[u8]>, &'static str)>;

thread_local! {
    static RECENT: RefCell<Recent> = const { RefCell::new(Vec::new()) };
}

/// The type of the file at `rel` (a path beneath a static root).
pub fn content_type(rel: &[u8]) -> &'static str {
    let Some(ext) = Path::new(OsStr::from_bytes(rel)).extension() else {
        return UNKNOWN;
    };
    let ext = ext.as_bytes();
    if ext.len() > MAX_REMEMBERED_LEN {
        return look_up(ext);
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some((_, known)) = recent.iter().find(|(seen, _)| **seen == *ext) {
            return *known;
        }
        let found = look_up(ext);
        if recent.len() == REMEMBERED {
            recent.remove(0);
        }
        recent.push((ext.into(), found));
        found
    })
}

fn look_up(ext: &[u8]) -> &'static str {
    std::str::from_utf8(ext)
        .ok()
        .and_then(|ext| mime_guess::from_ext(ext).first_raw())
        .unwrap_or(UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remembered(ext: &[u8]) -> bool {
        RECENT.with(|recent| recent.borrow().iter().any(|(seen, _)| **seen == *ext))
    }

    #[test]
    fn types_come_from_the_last_components_extension() {
        assert_eq!(content_type(b"site/index.html"), "text/html");
        assert_eq!(content_type(b"INDEX.HTML"), "text/html");
        assert_eq!(content_type(b"a/style.css"), "text/css");
        assert_eq!(content_type(b"release.tar.gz"), "application/gzip");
        assert_eq!(content_type(b"notes.d/README"), UNKNOWN);
        assert_eq!(content_type(b".profile"), UNKNOWN);
        assert_eq!(content_type(b"data.no-such-type"), UNKNOWN);
        assert_eq!(content_type(b"odd.\xff"), UNKNOWN);
    }

    #[test]
    fn a_served_extension_is_remembered_and_the_oldest_forgotten() {
        assert_eq!(content_type(b"a.png"), "image/png");
        assert!(remembered(b"png"));
        let many: Vec<String> = (0..REMEMBERED).map(|n| format!("f.x{n}")).collect();
        for name in &many {
            assert_eq!(content_type(name.as_bytes()), UNKNOWN);
        }
        assert!(!remembered(b"png"), "the oldest goes when the memo is full");
        assert_eq!(content_type(b"b.png"), "image/png");
        assert_eq!(RECENT.with(|recent| recent.borrow().len()), REMEMBERED);
    }

    #[test]
    fn a_long_extension_is_looked_up_but_not_remembered() {
        let name = format!("f.{}", "x".repeat(MAX_REMEMBERED_LEN + 1));
        assert_eq!(content_type(name.as_bytes()), UNKNOWN);
        assert!(!remembered(&name.as_bytes()[2..]));
    }
}
