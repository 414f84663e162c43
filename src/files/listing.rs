//! The HTML listing of a directory (`listing = true`, like nginx's
//! autoindex): names HTML-escaped, links percent-encoded, directories first
//! marked with a trailing '/'. At most `MAX_ENTRIES`, so a huge directory
//! can't make a huge page.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

const MAX_ENTRIES: usize = 10_000;

/// The listing page for the open directory `dir`, shown as `url_path`.
pub fn render(dir: &File, url_path: &[u8]) -> io::Result<Vec<u8>> {
    let mut entries = read_entries(dir)?;
    entries.sort();
    let title = escape_html(url_path);
    let mut page = Vec::with_capacity(512 + entries.len() * 64);
    write!(
        page,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1><ul>\n<li><a href=\"../\">../</a></li>\n"
    )?;
    for (name, is_dir) in &entries {
        let slash = if *is_dir { "/" } else { "" };
        writeln!(
            page,
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>",
            encode_href(name),
            escape_html(name)
        )?;
    }
    page.extend_from_slice(b"</ul></body></html>\n");
    Ok(page)
}

/// Names and whether each is a directory. Read through the descriptor that
/// was opened beneath the root, not by path, so the listing is of that very
/// directory even if the tree changes meanwhile.
fn read_entries(dir: &File) -> io::Result<Vec<(Vec<u8>, bool)>> {
    let by_fd = format!("/proc/self/fd/{}", dir.as_raw_fd());
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(by_fd)?.take(MAX_ENTRIES) {
        let entry = entry?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        entries.push((entry.file_name().as_bytes().to_vec(), is_dir));
    }
    Ok(entries)
}

fn escape_html(text: &[u8]) -> String {
    crate::html::escape(&String::from_utf8_lossy(text))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a name
/// like `a?b#c` or `x:y` links to itself and not to a query or a scheme.
fn encode_href(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_for_html() {
        assert_eq!(escape_html(b"<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }

    #[test]
    fn links_are_percent_encoded() {
        assert_eq!(encode_href(b"a b?c#d.txt"), "a%20b%3Fc%23d.txt");
        assert_eq!(encode_href("é".as_bytes()), "%C3%A9");
    }
}
