//! A request for a static route: its path resolved under the root (percent
//! decoding, dot segments, symlinks), then the whole answer with its range
//! and conditional fields. Nothing outside the root may ever be served.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::files::decode::relative_path;
use crate::files::{answer, Answer, Opened, SiteSettings, StaticSite};
use crate::http::request;
use crate::http::scan::{HeadScanner, Scan};

thread_local! {
    static SITE: StaticSite = make_site();
}

/// The input is a request head as a client sends it; the route's prefix is
/// `/`, so the whole path is looked up.
pub fn static_path(data: &[u8]) {
    let Scan::Complete { head_len } = HeadScanner::default().scan(data) else {
        return;
    };
    let limits = crate::config::Limits {
        max_head_bytes: usize::MAX,
        max_request_line_bytes: usize::MAX,
        max_headers: 64,
    };
    let mut fields = request::field_slots::<64>();
    let Ok(req) = request::parse(&data[..head_len], &mut fields, &limits) else {
        return;
    };
    if let Ok(rel) = relative_path(req.path()) {
        check_relative(&rel);
    }
    SITE.with(|site| {
        let Answer::Ready(reply) = answer(site, &req, req.path(), &mut Opened::in_place()) else {
            panic!("a file opened in place was left for a file thread")
        };
        let scanned = HeadScanner::default().scan(&reply.head);
        assert!(matches!(scanned, Scan::Complete { .. }), "unclean head");
        if let Some(body) = reply.body {
            let served = std::fs::read_link(format!("/proc/self/fd/{}", body.file.as_raw_fd()))
                .unwrap_or_default();
            assert!(
                served.starts_with(site.root.canonical()),
                "served {served:?}"
            );
            let size = body.file.metadata().map_or(0, |m| m.len());
            assert!(body
                .start
                .checked_add(body.len)
                .is_some_and(|end| end <= size));
        }
    });
}

/// Segments joined by single slashes: none empty, `.`, `..`, or holding a
/// backslash or NUL.
fn check_relative(rel: &[u8]) {
    if rel.is_empty() {
        return;
    }
    for segment in rel.split(|&b| b == b'/') {
        assert!(
            !matches!(segment, b"" | b"." | b".."),
            "{}",
            String::from_utf8_lossy(rel)
        );
        assert!(!segment.contains(&b'\\') && !segment.contains(&0));
    }
}

/// A small tree in the temp dir (the same for every process), with a file beside the root and symlinks
/// that lead inside and outside it.
fn make_site() -> StaticSite {
    let base = std::env::temp_dir().join("tern-fuzz-static");
    let root = base.join("root");
    let made = build_tree(&base, &root);
    if let Err(err) = made {
        panic!("cannot make the fuzzing site in {base:?}: {err}");
    }
    let settings = SiteSettings {
        root: root.to_str().unwrap_or_default(),
        index: "index.html",
        listing: true,
        cache_control: Some("max-age=60"),
        gzip_static: true,
    };
    StaticSite::open(&settings).unwrap_or_else(|(key, err)| panic!("fuzzing site {key}: {err}"))
}

fn build_tree(base: &Path, root: &Path) -> std::io::Result<()> {
    let docs = root.join("docs");
    std::fs::create_dir_all(&docs)?;
    for (path, text) in [
        (base.join("secret.txt"), "outside the root\n"),
        (root.join("index.html"), "<h1>home</h1>\n"),
        (root.join("a.css"), "body { color: red }\n"),
        (root.join("a.css.gz"), "not really gzip\n"),
        (docs.join("read me.txt"), "0123456789abcdef\n"),
    ] {
        // Written once and never changed: fuzzers and tests share the tree.
        if !path.exists() {
            std::fs::write(path, text)?;
        }
    }
    for (link, to) in [("in", PathBuf::from("docs")), ("out", PathBuf::from(".."))] {
        let path = root.join(link);
        if std::fs::symlink_metadata(&path).is_err() {
            std::os::unix::fs::symlink(to, path)?;
        }
    }
    Ok(())
}
